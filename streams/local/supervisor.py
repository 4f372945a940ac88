"""`make run` keeps its worker running until Ctrl-C, as systemd or Docker's restart policy does in
production. The worker exits on purpose when it cannot be sure a message reached the broker (when the
broker lost its storage, say); started again, it processes the events it had not committed once more."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable

MAX_DELAY_SECONDS = 30.0
SETTLED_SECONDS = 60.0  # a worker that ran this long before it exited is not in a crash loop


class Supervisor:
    def __init__(self, start: Callable[[], subprocess.Popen[bytes]]) -> None:
        self._start = start
        self.current: subprocess.Popen[bytes] | None = None
        self._stop = False

    def run(self) -> int:
        """Until SIGINT or SIGTERM; the caller stops the current worker afterwards."""
        previous = {sig: signal.signal(sig, self._request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            return self._keep_running()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _keep_running(self) -> int:
        delay = 1.0
        while not self._stop:
            self.current = self._start()
            started = time.monotonic()
            while not self._stop and self.current.poll() is None:
                time.sleep(0.2)
            if self._stop:
                break
            if time.monotonic() - started > SETTLED_SECONDS:
                delay = 1.0
            print(
                f"the worker exited with {self.current.returncode}; starting it again in {delay:.0f} s "
                "(Ctrl-C stops everything)",
                file=sys.stderr,
                flush=True,
            )
            self._sleep(delay)
            delay = min(MAX_DELAY_SECONDS, delay * 2)
        return 0

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._stop and time.monotonic() < deadline:
            time.sleep(0.2)

    def _request_stop(self, signum: int, frame: object) -> None:
        self._stop = True
