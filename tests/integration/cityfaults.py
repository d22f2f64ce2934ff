"""A whole city of real ergrid processes that a nemesis may kill, pause and
restart: process bookkeeping for fault campaigns and fault tests.

Builds on the harness in ergrid.py (the same Service classes, free ports,
"listening on" line and logs), but never calls pytest.fail: a campaign must
survive a service that refuses to come back and report it, not stop. Every
process is named "coordinator", "broker:<district>" or "executor:<unit>".
Standard library only; pytest, which ergrid.py imports for its test-only
helpers, is replaced by a stand-in when it is not installed.
"""

import importlib.util
import os
import signal
import sys
import threading
import time
import types

if importlib.util.find_spec("pytest") is None:  # ergrid.py imports it; a campaign needs none
    class _HarnessStop(Exception):
        pass

    def _stop(msg="", **_kw):
        raise _HarnessStop(msg)

    sys.modules["pytest"] = types.SimpleNamespace(fail=_stop, skip=_stop, fixture=lambda f: f,
                                                  hookimpl=lambda **_kw: (lambda f: f))

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ergrid  # noqa: E402

# A restart on the same port can race the kernel releasing it, or another
# engineer's process taking it; this many tries before giving up on a port.
RESTART_TRIES = 5


class CityProcs:
    """The processes of one city and what the nemesis did to each.

    state[name] is "up", "down" (killed, not restarted yet) or "paused"
    (SIGSTOP). Brokers and the coordinator always come back on their first
    port, because executors, peers and the coordinator know them by URL; an
    executor may come back on a new port (it registers its URL again)."""

    def __init__(self, tmp, failure_timeout="2s", heartbeat="500ms", sync_interval="1s"):
        self.cluster = ergrid.Cluster(tmp)
        self.failure_timeout = failure_timeout
        self.heartbeat = heartbeat
        self.sync_interval = sync_interval
        self.procs = {}   # name -> ergrid.Service
        self.state = {}   # name -> "up" | "down" | "paused"
        self.lock = threading.Lock()

    # ------------------------------------------------------------ start

    def start(self, districts, units):
        """districts: [name]; units: [{"id","kind","caps","capacity","home"}].
        Starts the coordinator, the brokers registered with it and one
        manual executor per unit. Returns a problem string or None."""
        coord = self.cluster.coordinator(start=False)
        problem = coord.start()
        if problem:
            return problem
        self._add("coordinator", coord)
        for d in districts:
            b = self.cluster.broker(d, failure_timeout=self.failure_timeout, start=False,
                                    extra=["--sync-interval", self.sync_interval,
                                           "--coordinator", coord.url])
            problem = b.start()
            if problem:
                return problem
            self._add("broker:" + d, b)
        for u in units:
            e = self.cluster.executor(u["id"], u["kind"], u["caps"],
                                      self.procs["broker:" + u["home"]], heartbeat=self.heartbeat,
                                      mode="manual", extra=["--capacity", str(u["capacity"])],
                                      start=False)
            problem = e.start()
            if problem:
                return problem
            self._add("executor:" + u["id"], e)
        return None

    def _add(self, name, svc):
        with self.lock:
            self.procs[name] = svc
            self.state[name] = "up"

    # ------------------------------------------------------------ queries

    def names(self, kind=None):
        return sorted(n for n in self.procs if kind is None or n.startswith(kind + ":")
                      or n == kind)

    def url(self, name):
        return self.procs[name].url

    def is_up(self, name):
        with self.lock:
            return self.state.get(name) == "up"

    def pid(self, name):
        p = self.procs[name].proc
        return p.pid if p else None

    def snapshot(self):
        with self.lock:
            return dict(self.state)

    def crashed(self):
        """[(name, exit code)] of processes that exited without being told
        to (the state says up or paused, the process is gone)."""
        out = []
        with self.lock:
            for name, svc in self.procs.items():
                if self.state[name] != "down" and svc.proc is not None:
                    code = svc.proc.poll()
                    if code is not None:
                        out.append((name, code))
        return out

    # ------------------------------------------------------------ faults

    def kill(self, name):
        """kill -9; the process stays down until restart()."""
        svc = self.procs[name]
        with self.lock:
            if self.state[name] == "down":
                return "already down"
            svc.expected_exit = True
            try:
                svc.proc.send_signal(signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.state[name] = "down"
        svc.proc.wait()
        return None

    def mark_down(self, name):
        """Records that a process died on its own (see crashed())."""
        with self.lock:
            self.procs[name].expected_exit = True
            self.state[name] = "down"

    def restart(self, name):
        """Starts a down process again on the same data dir. Returns a
        problem string or None."""
        svc = self.procs[name]
        with self.lock:
            if self.state[name] != "down":
                return "not down (%s)" % self.state[name]
        port = svc.port
        problem = None
        for i in range(RESTART_TRIES):
            problem = svc.start(port)
            if problem is None:
                break
            # The port may still be held by the dead process's last
            # connections; give the kernel a moment before the next try.
            time.sleep(0.2 * (i + 1))
        if problem and name.startswith("executor:"):
            problem = svc.start(0)
        if problem is None:
            with self.lock:
                self.state[name] = "up"
        return problem

    def pause(self, name):
        return self._signal(name, signal.SIGSTOP, "up", "paused")

    def resume(self, name):
        return self._signal(name, signal.SIGCONT, "paused", "up")

    def _signal(self, name, sig, before, after):
        with self.lock:
            if self.state[name] != before:
                return "not %s (%s)" % (before, self.state[name])
            self.procs[name].proc.send_signal(sig)
            self.state[name] = after
        return None

    def heal(self):
        """SIGCONT whatever is paused, restart whatever is down. Returns
        [(name, action, problem or None)]."""
        done = []
        for name in self.names():
            st = self.snapshot()[name]
            if st == "paused":
                done.append((name, "resume", self.resume(name)))
            elif st == "down":
                done.append((name, "restart", self.restart(name)))
        return done

    # ------------------------------------------------------------ teardown

    def shutdown(self):
        """SIGTERM every process (executors first); [problem strings]."""
        problems = []
        for name in self.names("executor") + self.names("broker") + ["coordinator"]:
            p = self.procs[name].shutdown()
            if p:
                problems.append(p)
        return problems

    def log_tail(self, name, n=20):
        return self.procs[name].log_tail(n)
