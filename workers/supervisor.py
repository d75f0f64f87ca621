"""Supervising many worker processes: restart one that dies; on SIGTERM stop them all gracefully."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time

log = logging.getLogger(__name__)


class Supervisor:
    """Runs `count` worker processes; restarts one that dies; on SIGTERM stops them all gracefully."""

    def __init__(self, count: int, threads: int, grace: float = 60.0):
        self.count, self.threads, self.grace = count, threads, grace
        self.stop = threading.Event()
        self.children: list[subprocess.Popen] = []

    def _spawn(self) -> subprocess.Popen:
        args = [sys.executable, "-m", "leadcapture.cli", "worker", "--processes", "1", "--threads", str(self.threads)]
        env = {**os.environ, "LEADCAPTURE_WORKER_CHILD": "1"}
        return subprocess.Popen(args, env=env)  # noqa: S603  (our own interpreter and module)

    def run(self) -> int:
        """Supervise until SIGTERM/SIGINT; return the exit status."""
        signal.signal(signal.SIGTERM, lambda *_: self.stop.set())
        signal.signal(signal.SIGINT, lambda *_: self.stop.set())
        self.children = [self._spawn() for _ in range(self.count)]
        log.info("worker supervisor: %d processes, pids %s", self.count, [c.pid for c in self.children])
        while not self.stop.wait(0.5):
            for i, child in enumerate(self.children):
                code = child.poll()
                if code is None:
                    continue
                if code == 3:  # the child found the configuration unusable: restarting won't help
                    log.error("worker process %d exited with a configuration error; stopping", child.pid)
                    self.stop.set()
                    break
                log.warning("worker process %d exited with %s; starting a new one", child.pid, code)
                time.sleep(1)
                self.children[i] = self._spawn()
        return self.shutdown()

    def shutdown(self) -> int:
        """SIGTERM every child, wait up to the grace period, then SIGKILL what is left."""
        for child in self.children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for child in self.children:
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("worker process %d did not stop in %.0fs; killing it", child.pid, self.grace)
                child.kill()
                child.wait()
        return 0
