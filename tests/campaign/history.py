"""The campaign's history file: one JSON object per line, written by
campaign.py while the city runs and read back by checker.py.

This module owns the format, so writer and checker cannot drift apart:

  {"type":"meta", ...}                 first line: seed, config, units, fault schedule
  {"type":"phase","name":...}          run, heal, healed, settled | settle_timeout, final, end
  {"type":"fault","action":...}        kill, restart, pause, resume, crash, restart_failed
  {"type":"op", "client", "method", "url", "body", "status", "reply", "err", "t0", "t"}
                                        every client request and its reply (status 0 = no reply)
  {"type":"poll", "round", "target", "what", "status", ...}
                                        what = jobs | units | assignments | copy | city
  {"type":"round", "round", "phase", "t0", "t"}   closes one poll round
  {"type":"exit", "problem"}           a service that did not stop cleanly on SIGTERM

Times ("t", "t0") are seconds since the campaign started (monotonic clock);
the meta line's "wall_start" (UTC) relates them to the services' logs.
Objects are summarised to the fields the checks read, as short strings where
that keeps a long run's file small:
  job        {"id","status","sev","caps":"a,b","unit","att","atts":"1:LAFD-1:revoked,2:...",
              "res": result key or null}
  unit       {"id","status","cap","jobs":[...]}
  held       "job:attempt:state" per assignment, "+" appended when it has a report;
             reported assignments that are no longer active are only counted ("reported")
  result key '["LAFD-1",1,"contained",{"note":1}]' (unit, attempt, outcome, data; sorted keys)
"""

import json
import threading
import time


def result_key(res):
    """A canonical string for an accepted result, or None."""
    if not isinstance(res, dict):
        return None
    return json.dumps([res.get("unit_id"), res.get("attempt"), res.get("outcome"),
                       res.get("data") if res.get("data") is not None else {}],
                      sort_keys=True, separators=(",", ":"))


def job_summary(j):
    if not isinstance(j, dict):
        return None
    atts = j.get("attempts") or []
    s = {
        "id": j.get("id"),
        "status": j.get("status"),
        "sev": j.get("severity"),
        "caps": ",".join(j.get("required_capabilities") or []),
        "unit": j.get("unit_id"),
        "att": j.get("attempt"),
        "atts": ",".join("%s:%s:%s" % (a.get("attempt"), a.get("unit_id"), a.get("state"))
                         for a in atts if isinstance(a, dict)),
        "res": result_key(j.get("result")),
    }
    if j.get("owner") is not None:
        s["owner"] = j.get("owner")
    if j.get("authoritative") is False:
        s["copy"] = True
    return s


def unit_summary(u):
    if not isinstance(u, dict):
        return None
    return {"id": u.get("id"), "status": u.get("status"), "cap": u.get("capacity"),
            "jobs": list(u.get("jobs") or [])}


def held_summary(assignments):
    """(held, reported): what a terminal holds, except the assignments it
    has reported and no longer works on, which are only counted (a terminal
    keeps them all, and a long run would repeat them in every poll)."""
    out = []
    reported = 0
    for a in assignments or []:
        if not isinstance(a, dict):
            continue
        if a.get("report") and a.get("state") != "active":
            reported += 1
            continue
        out.append("%s:%s:%s%s" % (a.get("job_id"), a.get("attempt"), a.get("state"),
                                   "+" if a.get("report") else ""))
    return out, reported


def parse_held(held):
    """[(job_id, attempt, state, has_report)] from held_summary strings."""
    out = []
    for h in held or []:
        rep = h.endswith("+")
        job, att, state = (h[:-1] if rep else h).rsplit(":", 2)
        try:
            att = int(att)
        except ValueError:
            att = None
        out.append((job, att, state, rep))
    return out


def parse_atts(atts):
    """{attempt: (unit_id, state)} from a job summary's "atts"."""
    out = {}
    for part in (atts or "").split(","):
        if not part:
            continue
        n, unit, state = part.split(":", 2)
        try:
            out[int(n)] = (unit, state)
        except ValueError:
            pass
    return out


def current_attempt_state(js):
    """State of the attempt a job summary names as current, or None."""
    if js.get("att") is None:
        return None
    return parse_atts(js.get("atts")).get(js["att"], (None, None))[1]


class History:
    """Appends records as JSON lines; thread-safe. write() returns the
    record's line number (1-based), which the checker cites as evidence."""

    def __init__(self, path):
        self.path = path
        self.f = open(path, "w", encoding="utf-8", buffering=1)
        self.lock = threading.Lock()
        self.start = time.monotonic()
        # The services log wall-clock UTC; t=0 is this instant.
        self.wall_start = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time())) + "Z"
        self.lines = 0

    def now(self):
        return round(time.monotonic() - self.start, 3)

    def write(self, rec):
        rec.setdefault("t", self.now())
        text = json.dumps(rec, separators=(",", ":"), sort_keys=False)
        with self.lock:
            self.f.write(text + "\n")
            self.lines += 1
            return self.lines

    def close(self):
        with self.lock:
            self.f.close()


def read(path):
    """Yields (line number, record) for every line of a history file; a
    torn last line (the campaign was killed mid-write) is skipped."""
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                yield n, json.loads(line)
            except ValueError:
                continue
