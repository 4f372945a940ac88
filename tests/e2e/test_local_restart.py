"""`make run`, Ctrl-C, `make run` loses nothing: the local stack keeps the broker's log in SeaweedFS and
SeaweedFS its volumes on disk, so the second run resumes the schedule, the hold and the audit chain.

Run as a user runs it: `python -m streams local` (what `make run` calls) as a process, stopped with
SIGINT (Ctrl-C), started again on the same folder. Judged by the bucket, the API and the audit topic.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from streams.audit.checkpoints import read_checkpoints
from streams.kafka.topic_ends import read_topic
from streams.local.processes import die_with_parent
from streams.local.stack import (
    LOCAL_STATE,
    MEDIA_BUCKET,
    LocalStack,
    Ports,
    _free_port,
    local_tokens,
)
from tests.builders import alarm_json
from tests.e2e.helpers import exists, sleep_until, wait_until_gone
from tests.kafka_helpers import produce, read_json, wait_for_commit

pytestmark = pytest.mark.e2e
RETENTION_SECONDS = 20  # passes while the stack is stopped: the second run finds it overdue
HOLD_SECONDS = 300


def sourced(path: Path) -> dict[str, str]:
    """The variables a shell gets from `source path` (lines of `export A=1 B='2'`)."""
    variables = {}
    for line in path.read_text().splitlines():
        if line.startswith("export "):
            for word in shlex.split(line.removeprefix("export ")):
                name, _, value = word.partition("=")
                variables[name] = value
    return variables


class MakeRun:
    """`python -m streams local` on a folder of its own, with ports chosen for the test."""

    def __init__(self, root: Path, log: Path) -> None:
        self.root = root
        self.log = log
        self.ports = Ports.free()
        self.tokens = local_tokens()
        root.mkdir(parents=True)
        (root / LOCAL_STATE).write_text(
            json.dumps({"ports": asdict(self.ports), "tokens": self.tokens, "hold_signing_key": "k" * 43})
        )
        self.web_port = _free_port()
        self.environment = {
            **os.environ,
            "LOCAL_STACK_DIR": str(root),
            "WEB_PORT": str(self.web_port),
            "MEDIA_RETENTION": f"PT{RETENTION_SECONDS}S",
            "HOLD_RETENTION": f"PT{HOLD_SECONDS}S",
            "LOG_FORMAT": "json",
            # None on a timer during the test: a checkpoint of the first run's chains comes from its stop.
            "AUDIT_CHECKPOINT_INTERVAL": "PT1H",
        }
        self.stack = LocalStack(root, self.ports)  # for its clients only: `make run` starts the servers
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "streams", "local"],
                env=self.environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )
        deadline = time.monotonic() + 120
        while self.health().get("status") != "ready":
            assert self.process.poll() is None, f"`make run` exited; see {self.log}"
            assert time.monotonic() < deadline, f"not ready: {self.health()}"
            time.sleep(0.5)

    def ctrl_c(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        assert self.process.wait(timeout=60) == 0

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def health(self) -> dict[str, Any]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/health", timeout=2) as answer:
                return json.loads(answer.read())  # type: ignore[no-any-return]
        except (OSError, ValueError):
            return {}

    def api(self, method: str, path: str, role: str, body: dict[str, Any] | None = None) -> Any:
        answer = httpx.request(
            method,
            f"http://127.0.0.1:{self.web_port}/api/v1{path}",
            json=body,
            headers={"Authorization": f"Bearer {self.tokens[role]}"},
            timeout=10,
        )
        answer.raise_for_status()
        return answer.json()


def test_stopping_and_starting_make_run_again_keeps_schedules_holds_and_the_audit_trail(
    tmp_path: Path, artifacts: Path
) -> None:
    run = MakeRun(tmp_path / "local-stack", artifacts / f"make-run-{uuid.uuid4().hex[:6]}.log")
    held, unheld = f"held-{uuid.uuid4().hex[:6]}", f"unheld-{uuid.uuid4().hex[:6]}"
    objects = {a: (MEDIA_BUCKET, f"{a}/image.jpg") for a in (held, unheld)}
    try:
        run.start()
        s3 = run.stack.s3_client()
        for bucket, key in objects.values():
            s3.put_object(Bucket=bucket, Key=key, Body=b"jpeg")
        triggered_at = datetime.now(UTC)
        asyncio.run(
            produce(
                run.stack.kafka_bootstrap,
                "alarm-events",
                [
                    (a.encode(), alarm_json(a, [objects[a][1]], bucket=MEDIA_BUCKET, at=triggered_at))
                    for a in objects
                ],
            )
        )
        for _ in range(100):  # the API knows the alarm once the stream has applied it
            try:
                run.api("GET", f"/alarms/{held}", "operator")
                break
            except httpx.HTTPStatusError:
                time.sleep(0.2)
        answer = run.api("POST", "/holds", "police-liaison", {"alarm_id": held, "case_reference": "2026-1"})
        assert answer["status"] == "accepted", answer
        asyncio.run(wait_for_commit(run.stack.kafka_bootstrap, "alarm-media-retention", "police-holds", 1))
        run.ctrl_c()

        run.start()  # the deadline passes meanwhile, or just after
        asyncio.run(sleep_until(triggered_at + timedelta(seconds=RETENTION_SECONDS)))
        asyncio.run(wait_until_gone(s3, [objects[unheld]], timeout=30))
        assert exists(s3, *objects[held])
        holds = run.api("GET", "/holds", "police-liaison")["holds"]
        assert [h["alarm_id"] for h in holds if h["hold_id"] == answer["hold_id"]] == [held]

        audit = asyncio.run(read_json(run.stack.kafka_bootstrap, "retention-audit"))
        kinds = [(r["type"], r.get("alarm_id")) for r in audit]
        assert ("hold.accepted", held) in kinds  # written by the first run
        # ... whose stop checkpointed the chain's head as it left it, at or after the hold's answer
        options = {"bootstrap_servers": run.stack.kafka_bootstrap}
        written = asyncio.run(read_topic(options, "retention-audit"))
        accepted = next(r for r in written if json.loads(r.value)["type"] == "hold.accepted")
        checkpoints = asyncio.run(read_checkpoints(options, "retention-audit-checkpoints"))
        assert any(c.partition == accepted.partition and c.offset >= accepted.offset for c in checkpoints), (
            checkpoints
        )
        assert ("media.deleted", unheld) in kinds  # by the second
        verify = subprocess.run(
            [sys.executable, "-m", "streams.cli", "audit", "verify"],
            env={
                **os.environ,
                **sourced(run.root / "tokens.env"),  # as the README says: `source .local-stack/tokens.env`
                "RETENTION_API_URL": f"http://127.0.0.1:{run.web_port}",
                "RETENTION_API_TOKEN": run.tokens["auditor"],
            },
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert verify.returncode == 0, verify.stdout + verify.stderr
        run.ctrl_c()
    finally:
        run.kill()
