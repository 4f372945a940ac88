"""A crashed worker whose stop hangs (on a broker waiting for its store) exits anyway, so that its
supervisor starts a fresh one instead of waiting on a process that neither works nor goes."""

from __future__ import annotations

import subprocess
import sys

HANGING_STOP = """
import time
from streams.app import _exit_if_still_running_after
_exit_if_still_running_after(0.5)
time.sleep(30)  # a stop that does not finish
"""


def test_a_crash_whose_stop_hangs_exits_after_the_wait() -> None:
    finished = subprocess.run(
        [sys.executable, "-c", HANGING_STOP], capture_output=True, timeout=20, check=False
    )
    assert finished.returncode == 70
    assert b"worker.crash_exit_forced" in finished.stdout + finished.stderr
