"""The retention worker as a separate process, the way it runs in production (for tests and benchmarks)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from streams.local.processes import die_with_parent
from streams.local.stack import LocalStack, _free_port, api_tokens_setting

# Fixed tokens for tests and benchmarks, one per role; the worker is given only their hashes.
TOKENS = {
    "operator": "rt_test-operator-token",
    "police-liaison": "rt_test-liaison-token",
    "auditor": "rt_test-auditor-token",
}


# The HMAC key hold events are signed with in tests and benchmarks (see handlers/signing.py).
SIGNING_KEY_ID = "test-key"
SIGNING_KEY = "test-signing-secret-of-some-length"


class WorkerProcess:
    def __init__(self, stack: LocalStack, log_path: Path, **settings: str) -> None:
        self.web_port = _free_port()
        self.log_path = log_path
        self.environment = {
            **os.environ,
            **stack.worker_environment(),
            "WEB_PORT": str(self.web_port),
            "LOG_FORMAT": "json",
            "STATE_DIR": str(log_path.parent / f"state-{self.web_port}"),
            "API_TOKENS": api_tokens_setting(TOKENS, prefix="test"),
            "HOLD_SIGNING_KEYS": json.dumps({SIGNING_KEY_ID: SIGNING_KEY}),
            **settings,
        }
        self.process: subprocess.Popen[bytes] | None = None
        log_path.write_bytes(b"")  # one log per worker object; a restart of it appends

    def start(self) -> WorkerProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "streams", "worker"],
                env=self.environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=Path(__file__).resolve().parents[2],
                preexec_fn=die_with_parent,  # only prctl: safe between fork and exec
            )
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def metrics(self) -> str:
        """The worker's /metrics text ("" while it does not answer)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/metrics", timeout=2) as answer:
                return answer.read().decode("utf-8")  # type: ignore[no-any-return]
        except OSError:
            return ""

    def health(self) -> dict[str, object] | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/health", timeout=2) as answer:
                return json.loads(answer.read())  # type: ignore[no-any-return]
        except urllib.error.HTTPError as error:
            return json.loads(error.read())  # type: ignore[no-any-return]
        except OSError:
            return None

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Ready means the worker owns partitions and has rebuilt its schedule from the table."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited with {self.process.returncode}:\n{self.log_tail()}")
            health = self.health()
            if health and health.get("status") in ("ready", "degraded"):
                return
            time.sleep(0.25)
        raise TimeoutError(f"worker not ready after {timeout} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

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
