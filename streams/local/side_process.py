"""The projector and the API as processes of their own, beside a WorkerProcess (for tests and benchmarks):
they are given the worker's settings (its topics, its DATABASE_URL) and a port of their own."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Self

from streams.local.processes import die_with_parent
from streams.local.stack import _free_port
from streams.local.worker_process import WorkerProcess


class SideProcess:
    command = ""
    port_setting = ""

    def __init__(self, worker: WorkerProcess, log_path: Path, **settings: str) -> None:
        self.web_port = _free_port()
        self.log_path = log_path
        self.environment = {**worker.environment, self.port_setting: str(self.web_port), **settings}
        assert "DATABASE_URL" in self.environment, "the worker was given no DATABASE_URL"
        self.process: subprocess.Popen[bytes] | None = None
        log_path.write_bytes(b"")

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
                preexec_fn=die_with_parent,
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
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/metrics", timeout=2) as answer:
                return answer.read().decode("utf-8")  # type: ignore[no-any-return]
        except OSError:
            return ""

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Ready: the projector has read every partition of its topics to the end once; the API finds the
        archive caught up and the broker answering."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.command} exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            health = self.health()
            if health and health.get("status") == "ready":
                return
            time.sleep(0.25)
        raise TimeoutError(f"{self.command} not ready after {timeout} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

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


class ProjectorProcess(SideProcess):
    """Reads the topics the worker writes into the worker's DATABASE_URL."""

    command = "projector"
    port_setting = "PROJECTOR_WEB_PORT"


class ApiProcess(SideProcess):
    """The API alone, reading the worker's DATABASE_URL."""

    command = "api"
    port_setting = "WEB_PORT"
