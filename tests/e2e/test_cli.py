"""The `retention` command line through the real API of a running worker."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid

import httpx
import pytest

from streams.local.side_process import ProjectorProcess
from streams.local.stack import MEDIA_BUCKET, LocalStack
from streams.local.worker_process import TOKENS, WorkerProcess
from tests.builders import alarm_json
from tests.e2e.helpers import retention
from tests.kafka_helpers import produce

pytestmark = pytest.mark.e2e


@pytest.fixture
def alarm_id(worker: WorkerProcess, media_stack: LocalStack) -> str:
    alarm_id = f"cli-{uuid.uuid4().hex[:8]}"
    value = alarm_json(alarm_id, [f"{alarm_id}/a.jpg"], bucket=MEDIA_BUCKET)
    asyncio.run(produce(media_stack.kafka_bootstrap, "alarm-events", [(alarm_id.encode(), value)]))
    # Known to the API means: in the worker's read model, state and audit trail both.
    headers = {"Authorization": f"Bearer {TOKENS['operator']}"}
    for _ in range(200):
        trail = httpx.get(f"{worker.url}/api/v1/alarms/{alarm_id}/audit", headers=headers, timeout=10)
        if trail.status_code == 200 and trail.json()["records"]:
            return alarm_id
        time.sleep(0.1)
    raise AssertionError("the alarm never reached the API")


class TestTheCommandLine:
    def test_the_police_liaison_places_lists_and_releases_a_hold(
        self, worker: WorkerProcess, media_stack: LocalStack, alarm_id: str
    ) -> None:
        placed = retention(worker, "police-liaison", "holds", "place", alarm_id, "--case", "2026-POL-9")
        assert placed.returncode == 0, placed.stderr
        assert f"on alarm {alarm_id}: accepted" in placed.stdout
        assert "media kept until" in placed.stdout
        hold_id = placed.stdout.split()[1]

        listed = retention(worker, "police-liaison", "holds", "list")
        assert hold_id in listed.stdout
        assert "test-police-liaison" in listed.stdout

        shown = retention(worker, "operator", "alarm", "show", alarm_id)
        assert "R2" in shown.stdout
        assert "active" in shown.stdout

        released = retention(worker, "police-liaison", "holds", "release", hold_id)
        assert released.returncode == 0, released.stderr
        assert "released" in released.stdout

    def test_json_output_is_the_api_answer(self, worker: WorkerProcess, alarm_id: str) -> None:
        shown = retention(worker, "operator", "--json", "alarm", "show", alarm_id)
        assert json.loads(shown.stdout)["alarm_id"] == alarm_id

    def test_the_auditor_reads_the_audit_trail(self, worker: WorkerProcess, alarm_id: str) -> None:
        audit = retention(worker, "auditor", "alarm", "audit", alarm_id)
        assert audit.returncode == 0, audit.stderr
        assert "media.deletion_scheduled" in audit.stdout
        assert "by / why" in audit.stdout

    def test_the_auditor_reads_a_case_and_a_customers_trail_from_the_archive(
        self, worker: WorkerProcess, projector: ProjectorProcess, alarm_id: str
    ) -> None:
        case = f"2026-POL-{uuid.uuid4().hex[:6]}"
        placed = retention(worker, "police-liaison", "holds", "place", alarm_id, "--case", case)
        assert placed.returncode == 0, placed.stderr
        hold_id = placed.stdout.split()[1]
        for _ in range(120):  # until the projector has archived the hold's answer
            shown = retention(worker, "auditor", "archive", "case", case)
            if hold_id in shown.stdout:
                break
            time.sleep(0.5)
        assert shown.returncode == 0, shown.stderr
        assert f"case {case}: 1 hold(s)" in shown.stdout
        assert "active" in shown.stdout
        trail = retention(worker, "auditor", "--json", "archive", "alarm", alarm_id)
        assert {"media.deletion_scheduled", "hold.accepted"} <= {
            r["type"] for r in json.loads(trail.stdout)["records"]
        }

    def test_a_forbidden_command_says_why_and_fails(self, worker: WorkerProcess, alarm_id: str) -> None:
        result = retention(worker, "auditor", "holds", "place", alarm_id, "--case", "x")
        assert result.returncode == 1
        assert "403 forbidden" in result.stderr

    def test_no_token_is_a_clear_error(self, worker: WorkerProcess) -> None:
        result = subprocess.run(
            [sys.executable, "-m", "streams.cli", "summary"],
            env={k: v for k, v in os.environ.items() if k != "RETENTION_API_TOKEN"},
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 1
        assert "RETENTION_API_TOKEN" in result.stderr

    def test_a_new_token_prints_the_entry_that_admits_it(self) -> None:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "streams.cli",
                "token",
                "new",
                "--name",
                "liaison-bergen",
                "--role",
                "police-liaison",
                "--unit",
                "bergen-police",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        token = result.stdout.split("it is not stored anywhere): ")[1].split()[0]
        entry = json.loads(result.stdout.split("API_TOKENS entry: ")[1])
        from streams.api.auth import hash_token

        assert entry == {
            "name": "liaison-bergen",
            "role": "police-liaison",
            "sha256": hash_token(token),
            "unit": "bergen-police",
        }

    def test_a_police_liaison_token_without_a_unit_is_refused(self) -> None:
        result = subprocess.run(
            [sys.executable, "-m", "streams.cli", "token", "new", "--name", "x", "--role", "police-liaison"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 1
        assert "--unit" in result.stderr

    def test_an_operator_takes_a_customers_access_request(self, worker: WorkerProcess, alarm_id: str) -> None:
        answer = retention(worker, "operator", "--json", "customer", "request", "access", "customer-1")
        assert answer.returncode == 0, answer.stderr
        report = json.loads(answer.stdout)
        assert report["status"] == "answered"
        assert alarm_id in {m["alarm_id"] for m in report["answer"]["media"]}
        table = retention(worker, "operator", "customer", "request", "access", "customer-1")
        assert table.returncode == 0, table.stderr
        assert f"{alarm_id}/a.jpg" in table.stdout

    def test_the_police_liaison_may_not_take_customer_requests(self, worker: WorkerProcess) -> None:
        refused = retention(worker, "police-liaison", "customer", "request", "erasure", "customer-1")
        assert refused.returncode == 1
        assert "403" in refused.stderr
