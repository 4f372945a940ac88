"""One of the service's processes (`python -m streams worker|projector|api`) run as it runs in
production, for tests and benchmarks: its own log file, its HTTP port, its /health and /metrics."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Collection
from pathlib import Path
from typing import Self

from streams.local.processes import die_with_parent


class ServiceProcess:
    command = ""  # of `python -m streams`
    ready_statuses: Collection[str] = ("ready",)

    def __init__(self, environment: dict[str, str], log_path: Path, web_port: int) -> None:
        self.environment = environment
        self.log_path = log_path
        self.web_port = web_port
        self.process: subprocess.Popen[bytes] | None = None
        log_path.write_bytes(b"")  # one log per object; a restart of it appends

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def start(self) -> Self:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "streams", self.command],
                env=self.environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=Path(__file__).resolve().parents[2],
                preexec_fn=die_with_parent,  # only prctl: safe between fork and exec
            )
        return self

    def health(self) -> dict[str, object] | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/health", timeout=2) as answer:
                return json.loads(answer.read())  # type: ignore[no-any-return]
        except urllib.error.HTTPError as error:
            return json.loads(error.read())  # type: ignore[no-any-return]
        except OSError:
            return None

    def metrics(self) -> str:
        """Its /metrics text ("" while it does not answer)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/metrics", timeout=2) as answer:
                return answer.read().decode("utf-8")  # type: ignore[no-any-return]
        except OSError:
            return ""

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.command} exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            health = self.health()
            if health and health.get("status") in self.ready_statuses:
                return
            time.sleep(0.25)
        raise TimeoutError(f"{self.command} not ready after {timeout} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_lines()[-lines:])

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)
