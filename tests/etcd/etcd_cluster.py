"""A throwaway etcd cluster for pytest, on the scripts beside this file.

    with EtcdCluster(members=3) as cl:
        cl.urls          # ["http://127.0.0.1:P1", ...]
        cl.url_list      # "http://127.0.0.1:P1,..." as --etcd takes it
        cl.kill(0); cl.start(0); cl.wait_healthy()
        cl.pause(1); cl.resume(1)

Owns nothing but the lifetime of one start.sh cluster; the scripts do the
work, so Check tests and pytest start etcd the same way.
"""
import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))


class EtcdCluster:
    def __init__(self, members=3, ready_timeout=30):
        self.members = members
        self.ready_timeout = ready_timeout
        self.dir = None
        self.urls = []

    @property
    def url_list(self):
        return ",".join(self.urls)

    def _script(self, name, *args, timeout=60):
        return subprocess.run([os.path.join(HERE, name), *map(str, args)], check=True,
                              capture_output=True, text=True, timeout=timeout)

    def __enter__(self):
        # -o: the janitor stops the cluster if this interpreter dies first
        out = self._script("start.sh", "-n", self.members, "-o", os.getpid(),
                           "-t", self.ready_timeout, timeout=self.ready_timeout + 30).stdout
        fields = dict(line.split("=", 1) for line in out.splitlines()
                      if line.startswith("ETCD_") and "=" in line)
        self.dir = fields["ETCD_DIR"]
        self.urls = fields["ETCD_URLS"].split(",")
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        if self.dir:
            self._script("stop.sh", self.dir)
            self.dir = None

    def member(self, i, action):
        return self._script("member.sh", self.dir, i, action).stdout.strip()

    def kill(self, i):
        self.member(i, "kill")

    def start(self, i):
        self.member(i, "start")

    def pause(self, i):
        self.member(i, "stop")

    def resume(self, i):
        self.member(i, "cont")

    def pid(self, i):
        return int(self.member(i, "pid"))

    def wait_healthy(self, timeout=30):
        """True once every running member says it is healthy (polls etcd)."""
        return subprocess.run([os.path.join(HERE, "wait.sh"), self.dir, str(timeout)],
                              timeout=timeout + 10).returncode == 0
