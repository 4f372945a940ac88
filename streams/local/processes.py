"""What every server and process the local stack starts shares."""

from __future__ import annotations

import ctypes
import signal
import sys


def die_with_parent() -> None:
    """For `preexec_fn`: on Linux the child gets SIGTERM when the process that started it dies, even by
    SIGKILL, so a crashed test run leaves nothing listening. (Only prctl: safe between fork and exec.)
    Strictly, when the *thread* that started it ends: start long-lived servers from a thread that
    lives as long as they should (not from `asyncio.to_thread` in a loop that is about to close)."""
    if sys.platform == "linux":
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
