#!/usr/bin/env python3
"""A randomized fault campaign over a whole city (issue 9, item 11), in the
manner of Jepsen: clients record every request and reply while a nemesis
kills (-9), pauses (SIGSTOP) and restarts the coordinator, the brokers and
the executors; a poller records what every service holds; then the city is
healed, allowed to settle, and checker.py reads the whole history.

This file owns the run: the city's layout, the load (dispatch clients and
crews), the poller, the nemesis and its seeded fault schedule, healing and
settling. The history format is history.py's, the checks are checker.py's,
the processes are tests/integration/cityfaults.py's.

  ERGRID_BUILD=build python3 tests/campaign/campaign.py [--duration 150] [--seed N]
  python3 tests/campaign/campaign.py --check-only HISTORY

Exit status: 0 no violation, 1 violations, 2 the city could not be run.
"""

import argparse
import hashlib
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

import checker  # noqa: E402
import cityfaults  # noqa: E402
import ergrid  # noqa: E402  (after cityfaults, which supplies pytest if missing)
import history  # noqa: E402
from history import held_summary, job_summary, result_key, unit_summary  # noqa: E402

DISTRICTS = ["Downtown", "Westside", "Valley"]
FIRE = ["firefighting", "rescue"]
POLICE = ["law_enforcement"]
EMS = ["medical", "transport"]
KIND_CAPS = {"fire": FIRE, "police": POLICE, "ems": EMS}

# The reference grid first, then more units, interleaved so that any prefix
# of 12..20 mixes kinds in every district. (id, kind, capacity, home)
UNIT_POOL = [
    ("LAFD-1", "fire", 1, "Downtown"), ("LAFD-2", "fire", 1, "Downtown"),
    ("LAPD-7", "police", 1, "Downtown"), ("EMS-3", "ems", 1, "Downtown"),
    ("LAFD-5", "fire", 1, "Westside"), ("LAPD-12", "police", 1, "Westside"),
    ("EMS-8", "ems", 1, "Westside"), ("LAFD-9", "fire", 1, "Valley"),
    ("LAPD-15", "police", 1, "Valley"), ("EMS-11", "ems", 1, "Valley"),
    ("EMS-4", "ems", 2, "Downtown"), ("LAFD-6", "fire", 1, "Westside"),
    ("EMS-12", "ems", 1, "Valley"), ("LAPD-8", "police", 2, "Downtown"),
    ("EMS-9", "ems", 1, "Westside"), ("LAFD-10", "fire", 1, "Valley"),
    ("LAPD-13", "police", 1, "Westside"), ("LAFD-3", "fire", 1, "Downtown"),
    ("LAPD-16", "police", 1, "Valley"), ("EMS-13", "ems", 2, "Westside"),
]

# Incidents: (type, required capabilities); all servable by the grid.
INCIDENTS = [
    ("building_fire", ["firefighting"]), ("building_fire", ["firefighting", "rescue"]),
    ("rescue", ["rescue"]), ("traffic_collision", ["law_enforcement"]),
    ("burglary", ["law_enforcement"]), ("medical", ["medical"]),
    ("medical", ["medical", "transport"]), ("transport", ["transport"]),
]
SEVERITIES = [("low", 2), ("medium", 4), ("high", 3), ("critical", 1)]
OUTCOMES = {"fire": ["contained", "extinguished"], "police": ["resolved", "arrest"],
            "ems": ["treated", "transported"]}

# Fault kinds: weight, what it does, and for how long (seconds; "ft" scales
# by the failure timeout so pauses fall both sides of it).
FAULT_KINDS = [
    ("kill-executor", 5, "executor", "kill", (0.5, 5.0)),
    ("pause-executor-short", 3, "executor", "pause", ("ft", 0.3, 0.8)),
    ("pause-executor-long", 3, "executor", "pause", ("ft", 1.5, 3.0)),
    ("kill-broker", 3, "broker", "kill", (1.0, 6.0)),
    ("pause-broker-short", 2, "broker", "pause", ("ft", 0.3, 0.8)),
    ("pause-broker-long", 2, "broker", "pause", ("ft", 1.5, 3.0)),
    ("kill-coordinator", 1, "coordinator", "kill", (1.0, 6.0)),
    ("pause-coordinator", 1, "coordinator", "pause", (1.0, 6.0)),
]
MAX_CONCURRENT_FAULTS = 3
BROKER_GAP = 2.0  # seconds kept between one broker's fault and the next one's

HTTP_TIMEOUT = 5.0
REPORT_TIMEOUT = 15.0  # the executor retries the owner broker for up to ~10 s
POLL_TIMEOUT = 2.0


def parse_duration(s):
    s = str(s).strip()
    if s.endswith("ms"):
        return float(s[:-2]) / 1000.0
    if s.endswith("s"):
        return float(s[:-1])
    if s.endswith("m"):
        return float(s[:-1]) * 60
    return float(s)


def city_units(n):
    return [{"id": uid, "kind": kind, "caps": KIND_CAPS[kind], "capacity": cap, "home": home}
            for uid, kind, cap, home in UNIT_POOL[:n]]


# ---------------------------------------------------------------- the schedule

def fault_schedule(seed, duration, units, failure_timeout, allow_broker_pairs=False,
                   gap=(2.0, 8.0)):
    """The nemesis's plan, a pure function of its arguments: the same seed
    gives the same faults at the same offsets (execution timing varies).
    [{"at", "kind", "target", "action", "duration"}], sorted by "at"."""
    rng = random.Random("%s-nemesis" % seed)
    targets = {"executor": ["executor:" + u["id"] for u in units],
               "broker": ["broker:" + d for d in DISTRICTS], "coordinator": ["coordinator"]}
    total = sum(k[1] for k in FAULT_KINDS)
    plan = []
    t = rng.uniform(3.0, 6.0)
    while t < duration - 3.0:
        r = rng.uniform(0, total)
        for kind in FAULT_KINDS:
            r -= kind[1]
            if r <= 0:
                break
        name, _w, cls, action, span = kind
        if span[0] == "ft":
            dur = rng.uniform(span[1], span[2]) * failure_timeout
        else:
            dur = rng.uniform(span[0], span[1])
        dur = round(dur, 2)

        def busy(p, start=t, end=t + dur, margin=0.0):
            return p["at"] - margin < end and start < p["at"] + p["duration"] + margin

        overlapping = [p for p in plan if busy(p)]
        free = []
        if len(overlapping) < MAX_CONCURRENT_FAULTS:
            for tg in targets[cls]:
                if any(p["target"] == tg for p in plan if busy(p, margin=1.0)):
                    continue
                if cls == "broker" and not allow_broker_pairs and any(
                        p["target"].startswith("broker:") for p in plan
                        if busy(p, margin=BROKER_GAP)):
                    continue
                free.append(tg)
        if free:
            plan.append({"at": round(t, 2), "kind": name, "target": rng.choice(free),
                         "action": action, "duration": dur})
        t += rng.uniform(gap[0], gap[1])
    return plan


def schedule_digest(plan):
    return hashlib.sha1(json.dumps(plan, sort_keys=True).encode()).hexdigest()[:12]


# ---------------------------------------------------------------- the run

class Campaign:
    def __init__(self, args, workdir, hist_path):
        self.a = args
        self.workdir = workdir
        self.units = city_units(args.executors)
        self.ft = parse_duration(args.failure_timeout)
        self.plan = fault_schedule(args.seed, args.duration, self.units, self.ft,
                                   args.allow_broker_pairs) if args.faults else []
        self.hist = history.History(hist_path)
        self.cp = cityfaults.CityProcs(workdir, failure_timeout=args.failure_timeout,
                                       heartbeat=args.heartbeat,
                                       sync_interval=args.sync_interval)
        self.load_stop = threading.Event()
        self.nemesis_stop = threading.Event()
        self.poll_stop = threading.Event()
        self.phase = "run"
        self.acked = []          # [(job id, owner district, body)]
        self.acked_lock = threading.Lock()
        self.rounds = []         # recent poll rounds: (round no, rd, t0, t)
        self.round_cv = threading.Condition()
        self.round_no = 0

    # -- output
    def say(self, msg):
        print("[%7.1f] %s" % (self.hist.now(), msg), flush=True)

    # -- one recorded request
    def call(self, client, op, target, method, url, body=None, timeout=HTTP_TIMEOUT,
             job_id=None):
        t0 = self.hist.now()
        err = None
        try:
            r = ergrid.request(method, url, body=body, timeout=timeout)
            status, js = r.status, r.json
        except Exception as e:  # a lost reply is data, not a failure of the campaign
            status, js, err = 0, None, "%s: %s" % (type(e).__name__, e)
        path = url.split("://", 1)[-1]
        path = path[path.find("/"):]
        self.hist.write({"type": "op", "t0": t0, "client": client, "op": op, "target": target,
                         "method": method, "url": path, "body": self.body_summary(body, job_id),
                         "status": status, "reply": self.reply_summary(op, js), "err": err})
        return status, js

    @staticmethod
    def body_summary(body, job_id):
        s = {}
        if job_id:
            s["job_id"] = job_id
        if isinstance(body, dict):
            for k in ("id", "severity", "district", "unit_id", "attempt", "outcome", "data"):
                if k in body:
                    s[k] = body[k]
            if "required_capabilities" in body:
                s["caps"] = ",".join(body["required_capabilities"])
        return s

    @staticmethod
    def reply_summary(op, js):
        if not isinstance(js, dict):
            return None
        s = {}
        if isinstance(js.get("error"), dict):
            s["code"] = js["error"].get("code")
            s["message"] = str(js["error"].get("message"))[:160]
        if isinstance(js.get("job"), dict):
            s["job"] = job_summary(js["job"])
        for k in ("district", "routing", "accepted"):
            if k in js:
                s[k] = js[k]
        if "result" in js:
            s["result"] = result_key(js["result"])
        if op == "read-terminal" and isinstance(js.get("assignments"), list):
            s["held"], s["reported"] = held_summary(js["assignments"])
        return s

    def broker_url(self, d):
        return self.cp.url("broker:" + d)

    # ------------------------------------------------------------ load: dispatch

    def submitter(self, i):
        client = "dispatch-%d" % i
        rng = random.Random("%s-client-%d" % (self.a.seed, i))
        seq = 0
        mean_gap = self.a.clients / self.a.rate
        sevs = [s for s, w in SEVERITIES for _ in range(w)]
        while not self.load_stop.wait(rng.expovariate(1.0 / mean_gap)):
            burst = rng.randint(3, 6) if rng.random() < 0.04 else 1
            for _ in range(burst):
                seq += 1
                typ, caps = rng.choice(INCIDENTS)
                body = {"id": "c%d-%04d" % (i, seq), "type": typ, "severity": rng.choice(sevs),
                        "required_capabilities": caps,
                        "location": {"address": "block %d" % rng.randint(1, 400)}}
                self.submit(client, rng, body, rng.choice(DISTRICTS),
                            via_coordinator=rng.random() < 0.2)
            r = rng.random()
            with self.acked_lock:
                pick = rng.choice(self.acked) if self.acked else None
            if pick and r < 0.06:
                self.cancel(client, rng, pick)
            elif pick and r < 0.10:
                # The same submission again: must answer 200 and the same job.
                self.call(client, "submit-again", "broker:" + pick[1], "POST",
                          self.broker_url(pick[1]) + "/v1/jobs", body=pick[2])

    def submit(self, client, rng, body, district, via_coordinator):
        """Submits until acknowledged or refused; the client id makes every
        retry after a lost reply safe."""
        for attempt in range(8):
            if self.load_stop.is_set() and attempt > 0:
                return
            if via_coordinator and attempt == 0:
                status, js = self.call(client, "submit-via-coordinator", "coordinator", "POST",
                                       self.cp.url("coordinator") + "/v1/incidents",
                                       body=dict(body, district=district))
            else:
                status, js = self.call(client, "submit", "broker:" + district, "POST",
                                       self.broker_url(district) + "/v1/jobs", body=body)
            if 200 <= status < 300:
                with self.acked_lock:
                    self.acked.append((body["id"], district, body))
                return
            if 400 <= status < 500:
                return  # refused: recorded, nothing to retry
            self.load_stop.wait(min(0.25 * (2 ** attempt), 3.0) * rng.uniform(0.8, 1.2))

    def cancel(self, client, rng, pick):
        jid, district, _ = pick
        for attempt in range(5):
            status, _js = self.call(client, "cancel", "broker:" + district, "POST",
                                    self.broker_url(district) + "/v1/jobs/%s/cancel" % jid,
                                    body={"reason": "false alarm"}, job_id=jid)
            if status != 0 and status < 500:
                return
            if self.load_stop.wait(min(0.3 * (2 ** attempt), 3.0)):
                return

    # ------------------------------------------------------------ load: crews

    def crew(self, unit):
        uid, kind = unit["id"], unit["kind"]
        name = "executor:" + uid
        client = "crew-" + uid
        rng = random.Random("%s-crew-%s" % (self.a.seed, uid))
        seen = {}  # (job, attempt) -> {"due", "tries", "done"}
        k = 0
        while not self.load_stop.wait(rng.uniform(0.6, 1.2)):
            if not self.cp.is_up(name):
                continue  # the crew sees a dead or frozen terminal and waits
            status, js = self.call(client, "read-terminal", name, "GET",
                                   self.cp.url(name) + "/v1/assignments", timeout=POLL_TIMEOUT)
            if status != 200 or not isinstance(js, dict):
                continue
            now = time.monotonic()
            for a in js.get("assignments") or []:
                key = (a.get("job_id"), a.get("attempt"))
                st = seen.get(key)
                if st is None:
                    if a.get("report"):
                        st = {"done": True}
                    elif a.get("state") == "active":
                        st = {"due": now + rng.uniform(1.0, 8.0), "tries": 0, "done": False}
                    elif a.get("state") == "revoked" and rng.random() < 0.3:
                        # The crew that put the fire out says so anyway.
                        st = {"due": now + rng.uniform(0.5, 3.0), "tries": 0, "done": False}
                    else:
                        st = {"done": True}
                    seen[key] = st
                if st["done"] or now < st["due"] or self.load_stop.is_set():
                    continue
                k += 1
                self.report(client, rng, uid, kind, a, st, k)

    def report(self, client, rng, uid, kind, a, st, k):
        jid, att = a["job_id"], a["attempt"]
        outcome = rng.choice(OUTCOMES[kind])
        data = {"crew": uid, "n": k}
        owner = a.get("owner")
        owner_url = a.get("owner_url")

        def direct(outcome, data):
            self.call(client, "report-direct", "broker:%s" % owner, "POST",
                      "%s/v1/jobs/%s/results" % (owner_url, jid),
                      body={"unit_id": uid, "attempt": att, "outcome": outcome, "data": data},
                      job_id=jid)

        if owner_url and rng.random() < 0.08:
            direct(rng.choice(OUTCOMES[kind]), {"crew": uid, "n": k, "via": "direct"})
        term = self.cp.url("executor:" + uid)
        status, _js = self.call(client, "report-terminal", "executor:" + uid, "POST",
                                "%s/v1/assignments/%s/result" % (term, jid),
                                body={"outcome": outcome, "data": data}, timeout=REPORT_TIMEOUT,
                                job_id=jid)
        if status == 0 or status >= 500:
            st["tries"] += 1
            st["due"] = time.monotonic() + 1.5 * st["tries"]
            st["done"] = st["tries"] >= 6
            return
        st["done"] = True
        if rng.random() < 0.10:
            # The crew presses "send" twice: an exact retry of the same report.
            self.call(client, "report-terminal-again", "executor:" + uid, "POST",
                      "%s/v1/assignments/%s/result" % (term, jid),
                      body={"outcome": outcome, "data": data}, timeout=REPORT_TIMEOUT,
                      job_id=jid)
        if owner_url and rng.random() < 0.10:
            # A front-end reports too, sometimes the same, sometimes not.
            if rng.random() < 0.5:
                direct(outcome, data)
            else:
                direct(rng.choice(OUTCOMES[kind]), {"crew": uid, "n": k, "via": "front-end"})

    # ------------------------------------------------------------ the poller

    def poll_round(self, rng, final=False):
        self.round_no += 1
        r = self.round_no
        t0 = self.hist.now()
        rd = checker.new_round()
        for d in DISTRICTS:
            name = "broker:" + d
            for what, path in (("jobs", "/v1/jobs?scope=local&limit=10000"),
                               ("units", "/v1/units?scope=local")):
                rec = {"type": "poll", "round": r, "target": name, "district": d, "what": what}
                if not self.cp.is_up(name):
                    rec.update(status=None, skipped=self.cp.snapshot()[name])
                    rd[what][d] = (self.hist.write(rec), None, rec["t"])
                    continue
                rec["t0"] = self.hist.now()
                data, status, total = self.fetch(self.broker_url(d) + path, what)
                rec.update(status=status)
                if data is not None:
                    rec[what] = data
                    if what == "jobs":
                        rec["total"] = total
                if final:
                    rec["final"] = True
                rec["t"] = self.hist.now()
                rd[what][d] = (self.hist.write(rec), data, rec["t"])
        for u in self.units:
            name = "executor:" + u["id"]
            rec = {"type": "poll", "round": r, "target": name, "unit": u["id"],
                   "what": "assignments", "cap": u["capacity"]}
            if not self.cp.is_up(name):
                rec.update(status=None, skipped=self.cp.snapshot()[name])
                rd["held"][u["id"]] = (self.hist.write(rec), None, None)
                continue
            rec["t0"] = self.hist.now()
            try:
                rep = ergrid.request("GET", self.cp.url(name) + "/v1/assignments",
                                     timeout=POLL_TIMEOUT)
                status = rep.status
                held, reported = held_summary(rep.json.get("assignments")) \
                    if status == 200 and isinstance(rep.json, dict) else (None, None)
            except Exception as e:
                status, held = 0, None
                rec["err"] = type(e).__name__
            rec["status"] = status
            if held is not None:
                rec["held"] = held
                rec["reported"] = reported
                rec["active"] = sum(1 for h in held if h.rsplit(":", 1)[-1] == "active")
            rec["t"] = self.hist.now()
            rd["held"][u["id"]] = (self.hist.write(rec), held, rec["t"])
        if not final:
            self.poll_copies(rng, rd, r)
        t = self.hist.now()
        self.hist.write({"type": "round", "round": r, "phase": "final" if final else self.phase,
                         "t0": t0, "t": t})
        with self.round_cv:
            self.rounds = (self.rounds + [(r, rd, t0, t)])[-4:]
            self.round_cv.notify_all()
        return r, rd

    def fetch(self, url, what):
        """(summaries or None, status, total) of one listing."""
        try:
            rep = ergrid.request("GET", url, timeout=POLL_TIMEOUT)
        except Exception:
            return None, 0, None
        if rep.status != 200 or not isinstance(rep.json, dict):
            return None, rep.status, None
        items = rep.json.get(what)
        if not isinstance(items, list):
            return None, rep.status, None
        summ = job_summary if what == "jobs" else unit_summary
        return [summ(x) for x in items], 200, rep.json.get("total")

    def poll_copies(self, rng, rd, r):
        """A few finished jobs read at another district: their synced copies
        are observations of the accepted result too (check 2, any broker)."""
        done = []
        for d, obs in rd["jobs"].items():
            if obs and obs[1]:
                done += [(d, js["id"]) for js in obs[1] if js.get("res")]
        for owner, jid in rng.sample(done, min(2, len(done))):
            at = rng.choice([x for x in DISTRICTS if x != owner])
            if not self.cp.is_up("broker:" + at):
                continue
            rec = {"type": "poll", "round": r, "target": "broker:" + at, "district": at,
                   "what": "copy", "t0": self.hist.now()}
            try:
                rep = ergrid.request("GET", self.broker_url(at) + "/v1/jobs/" + jid,
                                     timeout=POLL_TIMEOUT)
                rec["status"] = rep.status
                if rep.status == 200 and isinstance(rep.json, dict):
                    rec["job"] = job_summary(rep.json.get("job"))
            except Exception as e:
                rec["status"], rec["err"] = 0, type(e).__name__
            self.hist.write(rec)

    def poller(self):
        rng = random.Random("%s-poller" % self.a.seed)
        while not self.poll_stop.is_set():
            started = time.monotonic()
            self.poll_round(rng)
            # Pace the rounds (at most one a second), not a wait for a condition.
            self.poll_stop.wait(max(0.0, 1.0 - (time.monotonic() - started)))

    def wait_round(self, after, timeout):
        """The first poll round numbered above `after`, or None on timeout."""
        deadline = time.monotonic() + timeout
        with self.round_cv:
            while True:
                for rr in self.rounds:
                    if rr[0] > after:
                        return rr
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.round_cv.wait(left)

    # ------------------------------------------------------------ the nemesis

    def fault(self, action, target, **kw):
        rec = {"type": "fault", "action": action, "target": target}
        rec.update(kw)
        self.hist.write(rec)
        self.say("nemesis: %s %s%s" % (action, target, "".join(
            " %s=%s" % kv for kv in sorted(kw.items()) if kv[0] != "log")))

    def check_crashes(self):
        for name, code in self.cp.crashed():
            self.cp.mark_down(name)
            self.fault("crash", name, code=code, log=self.cp.log_tail(name, 15))
            problem = self.cp.restart(name)
            self.fault("restart" if problem is None else "restart_failed", name,
                       problem=problem, after="crash")

    def nemesis(self):
        start = self.run_start  # the plan's offsets count from the start of the run
        events = []  # (time, order, what, fault)
        for i, f in enumerate(self.plan):
            events.append((f["at"], i, "begin", f))
            events.append((f["at"] + f["duration"], i, "end", f))
        events.sort(key=lambda e: (e[0], e[1], e[2] == "begin"))
        begun = set()
        while events and not self.nemesis_stop.is_set():
            at, i, what, f = events[0]
            wait = start + at - time.monotonic()
            if wait > 0:
                self.nemesis_stop.wait(min(wait, 0.25))
                self.check_crashes()
                continue
            events.pop(0)
            name = f["target"]
            if what == "begin":
                if name.startswith("broker:") and not self.a.allow_broker_pairs and \
                        self.other_broker_faulted(name):
                    self.fault("skipped", name, kind=f["kind"], why="another broker is down")
                    continue
                st = self.cp.snapshot()[name]
                if st != "up":
                    self.fault("skipped", name, kind=f["kind"], why="target is %s" % st)
                    continue
                pid = self.cp.pid(name)
                problem = self.cp.kill(name) if f["action"] == "kill" else self.cp.pause(name)
                self.fault(f["action"], name, kind=f["kind"], planned_at=f["at"],
                           duration=f["duration"], pid=pid, problem=problem)
                begun.add(i)
            elif i in begun:
                if f["action"] == "kill":
                    problem = self.cp.restart(name)
                    if problem:
                        self.fault("restart_failed", name, problem=problem)
                        events.insert(0, (time.monotonic() - start + 1.0, i, "end", f))
                        continue
                    self.fault("restart", name, kind=f["kind"], pid=self.cp.pid(name))
                else:
                    self.fault("resume", name, kind=f["kind"], problem=self.cp.resume(name))
        # After the last fault, crashes still matter until healing.
        while not self.nemesis_stop.wait(0.25):
            self.check_crashes()

    def other_broker_faulted(self, name):
        snap = self.cp.snapshot()
        return any(n != name and n.startswith("broker:") and s != "up" for n, s in snap.items())

    # ------------------------------------------------------------ settle

    def settled(self, rd):
        """The city is at rest: every service answers, every unit is known
        and not lost at home, and nothing is stuck (checks 4 and 5)."""
        for obs in list(rd["jobs"].values()) + list(rd["units"].values()) + \
                list(rd["held"].values()):
            if not obs or obs[1] is None:
                return False
        for d in DISTRICTS:
            units = {u["id"]: u for u in rd["units"][d][1]}
            for u in self.units:
                if u["home"] == d and units.get(u["id"], {}).get("status") not in (
                        "available", "busy"):
                    return False
        return not checker.round_findings(checker.City(self.meta), rd)

    # ------------------------------------------------------------ the whole run

    def run(self):
        a = self.a
        self.meta = {
            "type": "meta", "seed": a.seed, "duration": a.duration, "districts": DISTRICTS,
            "units": self.units, "failure_timeout_s": self.ft, "failure_timeout": a.failure_timeout,
            "heartbeat": a.heartbeat, "sync_interval": a.sync_interval,
            "stuck_bound": a.stuck_bound, "settle_bound": a.settle,
            "allow_broker_pairs": a.allow_broker_pairs, "rate": a.rate, "clients": a.clients,
            "build": ergrid.build_dir(), "schedule": self.plan,
            "schedule_digest": schedule_digest(self.plan), "argv": sys.argv[1:],
            "wall_start": self.hist.wall_start,
        }
        self.hist.write(self.meta)
        self.say("seed %s: %d executors, %d faults planned (schedule %s), %ss of load" % (
            a.seed, len(self.units), len(self.plan), self.meta["schedule_digest"], a.duration))
        problem = self.cp.start(DISTRICTS, self.units)
        if problem:
            self.say("the city did not start: %s" % problem)
            return False
        if not self.wait_city_ready():
            return False
        self.run_start = time.monotonic()
        self.hist.write({"type": "phase", "name": "run"})
        self.say("city up: coordinator %s, brokers %s" % (
            self.cp.url("coordinator"), ", ".join("%s %s" % (d, self.broker_url(d))
                                                  for d in DISTRICTS)))
        threads = [threading.Thread(target=self.poller, name="poller", daemon=True)]
        load = [threading.Thread(target=self.submitter, args=(i + 1,), daemon=True)
                for i in range(a.clients)]
        load += [threading.Thread(target=self.crew, args=(u,), daemon=True) for u in self.units]
        nem = threading.Thread(target=self.nemesis, name="nemesis", daemon=True)
        for t in threads + load + [nem]:
            t.start()
        self.load_stop.wait(a.duration)  # the length of the run: pacing, not a check

        self.hist.write({"type": "phase", "name": "heal"})
        self.say("heal: stopping the nemesis and the load")
        self.nemesis_stop.set()
        nem.join()
        self.load_stop.set()
        for t in load:
            t.join()
        for name, action, problem in self.cp.heal():
            self.fault(action, name, problem=problem, heal=True)
        self.check_crashes()
        self.hist.write({"type": "phase", "name": "healed"})
        self.phase = "settle"
        ok = self.settle()
        self.hist.write({"type": "phase", "name": "settled" if ok else "settle_timeout"})
        self.say("settled" if ok else "did not settle within %ss" % a.settle)
        self.poll_stop.set()
        for t in threads:
            t.join()
        self.check_crashes()
        self.final()
        return True

    def wait_city_ready(self):
        """Every unit available at its home broker and seen by every other
        district: the city is whole before the first fault."""
        want = {u["id"] for u in self.units}

        def ready():
            for d in DISTRICTS:
                rep = ergrid.request("GET", self.broker_url(d) + "/v1/units", timeout=POLL_TIMEOUT)
                if rep.status != 200:
                    return False
                seen = {u["id"] for u in rep.json.get("units", []) if u.get("status") == "available"}
                if not want <= seen:
                    return False
            return True
        try:
            ergrid.wait_until(ready, timeout=60.0, interval=0.25, message="the city to assemble")
            return True
        except (ergrid.WaitTimeout, OSError) as e:
            self.say("the city did not assemble: %s" % e)
            return False

    def settle(self):
        deadline = time.monotonic() + self.a.settle
        after = self.round_no
        streak = 0
        while time.monotonic() < deadline:
            rr = self.wait_round(after, deadline - time.monotonic())
            if rr is None:
                break
            after = rr[0]
            self.check_crashes()
            streak = streak + 1 if self.settled(rr[1]) else 0
            if streak >= 2:
                return True
        return False

    def final(self):
        self.hist.write({"type": "phase", "name": "final"})
        self.poll_round(random.Random(0), final=True)
        for d in DISTRICTS:
            rec = {"type": "poll", "target": "broker:" + d, "district": d, "what": "city",
                   "t0": self.hist.now()}
            data, status, total = self.fetch(self.broker_url(d) + "/v1/jobs?limit=10000", "jobs")
            rec.update(status=status, total=total)
            if data is not None:
                rec["jobs"] = data
            self.hist.write(rec)
        for problem in self.cp.shutdown():
            target = problem.split(" (pid")[0]
            self.hist.write({"type": "exit", "target": target, "problem": problem})
        self.hist.write({"type": "phase", "name": "end"})


def main(argv=None):
    ap = argparse.ArgumentParser(description="Randomized fault campaign over an ergrid city "
                                             "(tests/campaign/README.md).")
    ap.add_argument("--duration", type=float, default=150.0,
                    help="seconds of load and faults before healing (default 150)")
    ap.add_argument("--seed", type=int, default=None, help="default: from the clock, printed")
    ap.add_argument("--history", help="history file (default: in the work dir)")
    ap.add_argument("--check-only", metavar="FILE", help="only check a saved history")
    ap.add_argument("--executors", type=int, default=15, help="12..20 (default 15)")
    ap.add_argument("--clients", type=int, default=2, help="dispatch client threads (default 2)")
    ap.add_argument("--rate", type=float, default=1.5,
                    help="incidents per second over all clients (default 1.5)")
    ap.add_argument("--failure-timeout", default="2s")
    ap.add_argument("--heartbeat", default="500ms")
    ap.add_argument("--sync-interval", default="1s")
    ap.add_argument("--stuck-bound", type=float, default=None,
                    help="seconds a job may wait while a capable unit is free, or a unit be "
                         "busy for nothing, during the run (default 30; with --check-only, "
                         "the run's own)")
    ap.add_argument("--settle", type=float, default=90.0,
                    help="bound in seconds on waiting for the healed city to settle (default 90)")
    ap.add_argument("--allow-broker-pairs", action="store_true",
                    help="let the nemesis fault two brokers at once")
    ap.add_argument("--no-faults", dest="faults", action="store_false",
                    help="the same load without the nemesis (a baseline)")
    ap.add_argument("--workdir", help="data dirs and logs (default: a new temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the work dir even when clean")
    a = ap.parse_args(argv)

    if a.check_only:
        bound = [] if a.stuck_bound is None else ["--stuck-bound", str(a.stuck_bound)]
        return checker.main([a.check_only] + bound)
    if a.stuck_bound is None:
        a.stuck_bound = 30.0
    if not 12 <= a.executors <= len(UNIT_POOL):
        ap.error("--executors must be 12..%d" % len(UNIT_POOL))
    if not os.environ.get("ERGRID_BUILD"):
        print("ERGRID_BUILD is not set: point it at a meson build dir", file=sys.stderr)
        return 2
    if a.seed is None:
        a.seed = int(time.time()) % 1000000
    workdir = a.workdir or tempfile.mkdtemp(prefix="ergrid-campaign-%d-" % a.seed)
    os.makedirs(workdir, exist_ok=True)
    hist_path = a.history or os.path.join(workdir, "history.jsonl")
    c = Campaign(a, workdir, hist_path)
    try:
        ran = c.run()
    except BaseException:
        c.load_stop.set()
        c.nemesis_stop.set()
        c.poll_stop.set()
        c.cp.heal()
        c.cp.shutdown()
        raise
    finally:
        c.hist.close()
    if not ran:
        c.cp.heal()
        c.cp.shutdown()
        print("work dir kept: %s" % workdir)
        return 2
    result = checker.check(hist_path)
    print(result.render(hist_path))
    if result.violations or a.keep or a.workdir:
        print("work dir (service logs, data%s) kept: %s" % (
            "" if a.history else ", history", workdir))
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if result.violations else 0


if __name__ == "__main__":
    sys.exit(main())
