"""The retention worker as a separate process, the way it runs in production (for tests and benchmarks)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import uuid
from pathlib import Path

from streams.local.service_process import ServiceProcess
from streams.local.stack import ANCHOR_BUCKET, LocalStack, _free_port, api_tokens_setting

# Fixed tokens for tests and benchmarks, one per role; the worker is given only their hashes.
TOKENS = {
    "operator": "rt_test-operator-token",
    "police-liaison": "rt_test-liaison-token",  # of the unit test-police
    "police-liaison@other-unit": "rt_test-liaison-of-another-unit-token",
    "auditor": "rt_test-auditor-token",
}


# The HMAC key hold events are signed with in tests and benchmarks (see handlers/signing.py).
SIGNING_KEY_ID = "test-key"
SIGNING_KEY = "test-signing-secret-of-some-length"
CHAIN_KEYS = {"test-chain": "test-chain-secret-of-some-length"}  # for `retention audit verify` in tests
PSEUDONYM_KEY = "test-pseudonym-secret-of-some-length"
HANDOVER_SIGNING_KEY = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="  # base64 of 32 bytes, tests only


class WorkerProcess(ServiceProcess):
    """Ready means the worker owns partitions and has rebuilt its schedule from the table (degraded is
    ready too: it is working, and says what fails)."""

    command = "worker"
    ready_statuses = ("ready", "degraded")

    def __init__(self, stack: LocalStack, log_path: Path, **settings: str) -> None:
        """The tables go to a folder of this process's own (STATE_DIR) unless `settings` names one: a
        worker restarted on the same STATE_DIR resumes from its tables on disk, as on a kept volume."""
        web_port = _free_port()
        own = log_path.parent / f"state-{log_path.stem}-{uuid.uuid4().hex[:6]}"
        self._own_state_dir = None if "STATE_DIR" in settings else own
        environment = {
            **os.environ,
            **stack.worker_environment(),
            "WEB_PORT": str(web_port),
            "LOG_FORMAT": "json",
            "STATE_DIR": str(own),
            "API_TOKENS": api_tokens_setting(TOKENS, prefix="test"),
            "HOLD_SIGNING_KEYS": json.dumps({SIGNING_KEY_ID: SIGNING_KEY}),
            "AUDIT_CHAIN_KEYS": json.dumps(CHAIN_KEYS),
            "AUDIT_ANCHOR_BUCKET": ANCHOR_BUCKET,
            "PSEUDONYM_KEY": PSEUDONYM_KEY,
            "HANDOVER_SIGNING_KEY": HANDOVER_SIGNING_KEY,
            **settings,
        }
        stack.create_bucket(ANCHOR_BUCKET, object_lock=True)
        super().__init__(environment, log_path, web_port)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
        super().stop(sig, timeout)
        if self._own_state_dir is not None:  # its tables on disk, which no other process will use
            shutil.rmtree(self._own_state_dir, ignore_errors=True)
