"""`make run` keeps its processes (the worker, the projector) running until Ctrl-C, as systemd or
Docker's restart policy does in production. The worker exits on purpose when it cannot be sure a
message reached the broker (when the broker lost its storage, say); started again, it processes the
events it had not committed once more. Each process is restarted on its own, backing off while it keeps
exiting."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

MAX_DELAY_SECONDS = 30.0
SETTLED_SECONDS = 60.0  # a process that ran this long before it exited is not in a crash loop
POLL_SECONDS = 0.2


@dataclass
class _Kept:
    start: Callable[[], subprocess.Popen[bytes]]
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    delay: float = 1.0
    restart_at: float = 0.0


class Supervisor:
    def __init__(self, starts: Mapping[str, Callable[[], subprocess.Popen[bytes]]]) -> None:
        self._kept = {name: _Kept(start) for name, start in starts.items()}
        self._stop = False

    @property
    def running(self) -> dict[str, subprocess.Popen[bytes]]:
        """The current process of each name (left running when `run` returns: the caller stops them,
        in the order it needs)."""
        return {name: kept.process for name, kept in self._kept.items() if kept.process is not None}

    def run(self) -> int:
        """Until SIGINT or SIGTERM."""
        previous = {sig: signal.signal(sig, self._request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self._keep_running()
            return 0
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _keep_running(self) -> None:
        for kept in self._kept.values():
            self._start(kept)
        while not self._stop:
            now = time.monotonic()
            for name, kept in self._kept.items():
                if self._stop:
                    break
                if kept.process is not None and kept.process.poll() is not None:
                    self._exited(name, kept, now)
                elif kept.process is None and now >= kept.restart_at:
                    self._start(kept)
            time.sleep(POLL_SECONDS)

    def _start(self, kept: _Kept) -> None:
        kept.process = kept.start()
        kept.started = time.monotonic()

    def _exited(self, name: str, kept: _Kept, now: float) -> None:
        assert kept.process is not None
        if now - kept.started > SETTLED_SECONDS:
            kept.delay = 1.0
        print(
            f"the {name} exited with {kept.process.returncode}; starting it again in {kept.delay:.0f} s "
            "(Ctrl-C stops everything)",
            file=sys.stderr,
            flush=True,
        )
        kept.process = None
        kept.restart_at = now + kept.delay
        kept.delay = min(MAX_DELAY_SECONDS, kept.delay * 2)

    def _request_stop(self, signum: int, frame: object) -> None:
        self._stop = True
