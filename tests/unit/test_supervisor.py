"""`make run`'s supervisor starts a worker that exited again, backing off, until it is told to stop."""

from __future__ import annotations

import subprocess
import sys

from streams.local.supervisor import Supervisor


def test_a_worker_that_exits_is_started_again_until_stop() -> None:
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        if len(started) == 2:  # the third start: a worker that keeps running, and Ctrl-C
            supervisor._request_stop(0, None)
            started.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]))
        else:
            started.append(subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"]))
        return started[-1]

    supervisor = Supervisor(start)
    try:
        assert supervisor.run() == 0
        assert len(started) == 3
        assert [p.wait() for p in started[:2]] == [3, 3]
        assert supervisor.current is started[2]
        assert started[2].poll() is None  # left running for the caller to stop
    finally:
        started[-1].kill()
        started[-1].wait()
