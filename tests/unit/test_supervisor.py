"""`make run`'s supervisor starts a process that exited again, backing off, until it is told to stop,
each process on its own."""

from __future__ import annotations

import subprocess
import sys

from streams.local.supervisor import Supervisor

SLEEPS = [sys.executable, "-c", "import time; time.sleep(60)"]


def test_a_process_that_exits_is_started_again_until_stop_and_the_others_are_left_alone() -> None:
    started: list[subprocess.Popen[bytes]] = []
    steady: list[subprocess.Popen[bytes]] = []

    def crashing() -> subprocess.Popen[bytes]:
        if len(started) == 2:  # the third start: one that keeps running, and Ctrl-C
            supervisor._request_stop(0, None)
            started.append(subprocess.Popen(SLEEPS))
        else:
            started.append(subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"]))
        return started[-1]

    def running() -> subprocess.Popen[bytes]:
        steady.append(subprocess.Popen(SLEEPS))
        return steady[-1]

    supervisor = Supervisor({"worker": crashing, "projector": running})
    try:
        assert supervisor.run() == 0
        assert len(started) == 3
        assert [p.wait() for p in started[:2]] == [3, 3]
        assert len(steady) == 1, "a process that kept running was started again"
        assert supervisor.running == {"worker": started[2], "projector": steady[0]}
        assert started[2].poll() is None  # left running for the caller to stop
    finally:
        for process in (started[-1], *steady):
            process.kill()
            process.wait()
