"""Forged hold events, the tamper-evident audit trail, and personal data kept out of the logs."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from typing import Any

import httpx
import pytest

from streams.local.stack import MEDIA_BUCKET, LocalStack
from streams.local.worker_process import WorkerProcess
from tests.builders import alarm_json, hold_released_json
from tests.e2e.helpers import bearer, verify_audit
from tests.kafka_helpers import produce, read_all, wait_for_records

pytestmark = pytest.mark.e2e
PERSONAL = ["Kari Nordmann", "Storgata 12, 0155 Oslo", "+47 912 34 567", "01017012345"]


async def held_alarm(worker: WorkerProcess, stack: LocalStack) -> tuple[str, str]:
    alarm_id = f"sec-{uuid.uuid4().hex[:8]}"
    value = alarm_json(alarm_id, [f"{alarm_id}/a.jpg"], bucket=MEDIA_BUCKET)
    await produce(stack.kafka_bootstrap, "alarm-events", [(alarm_id.encode(), value)])
    async with httpx.AsyncClient(base_url=worker.url, timeout=30) as api:
        for _ in range(100):
            if (await api.get(f"/api/v1/alarms/{alarm_id}", headers=bearer("operator"))).status_code == 200:
                break
            await asyncio.sleep(0.1)
        placed = await api.post(
            "/api/v1/holds",
            headers=bearer("police-liaison"),
            json={"alarm_id": alarm_id, "case_reference": "c"},
        )
    assert placed.json()["status"] == "accepted", placed.text
    return alarm_id, placed.json()["hold_id"]


def log_lines(log: str) -> list[dict[str, Any]]:
    """The worker's JSON log lines (a line still being written is skipped)."""
    lines = []
    for text in log.splitlines():
        try:
            lines.append(json.loads(text))
        except ValueError:
            continue
    return lines


class TestForgedHoldEvents:
    async def test_an_unsigned_release_does_not_release_the_hold(
        self, worker: WorkerProcess, media_stack: LocalStack
    ) -> None:
        alarm_id, hold_id = await held_alarm(worker, media_stack)
        forged = hold_released_json(alarm_id, hold_id, signed=False)
        await produce(media_stack.kafka_bootstrap, "police-holds", [(alarm_id.encode(), forged)])
        (rejected,) = await wait_for_records(
            media_stack.kafka_bootstrap,
            "retention-audit",
            lambda r: r.get("hold_id") == hold_id and r["type"] == "hold.signature_rejected",
        )
        assert "not signed" in rejected["details"]["reason"]
        letters = await wait_for_records(
            media_stack.kafka_bootstrap,
            "retention-deadletter",
            lambda r: base64.b64decode(r["value_base64"]) == forged,
        )
        assert "not signed" in letters[0]["reason"]
        async with httpx.AsyncClient(base_url=worker.url, timeout=30) as api:
            alarm = (await api.get(f"/api/v1/alarms/{alarm_id}", headers=bearer("operator"))).json()
        assert [h["state"] for h in alarm["holds"]] == ["active"]

    async def test_a_release_signed_with_the_wrong_key_is_refused(
        self, worker: WorkerProcess, media_stack: LocalStack
    ) -> None:
        alarm_id, hold_id = await held_alarm(worker, media_stack)
        document = json.loads(hold_released_json(alarm_id, hold_id))
        document["signature"] = "f" * 64
        await produce(
            media_stack.kafka_bootstrap, "police-holds", [(alarm_id.encode(), json.dumps(document).encode())]
        )
        (rejected,) = await wait_for_records(
            media_stack.kafka_bootstrap,
            "retention-audit",
            lambda r: r.get("hold_id") == hold_id and r["type"] == "hold.signature_rejected",
        )
        assert "does not match" in rejected["details"]["reason"]


class TestTheAuditTrailIsTamperEvident:
    async def test_the_workers_trail_verifies_and_a_changed_copy_is_caught(
        self, worker: WorkerProcess, media_stack: LocalStack
    ) -> None:
        await held_alarm(worker, media_stack)  # at least some records
        intact = verify_audit(media_stack, "retention-audit")
        assert intact.returncode == 0, intact.stdout + intact.stderr
        assert json.loads(intact.stdout)["records"] > 0

        # A copy of one partition with one record altered, as an insider editing the trail would.
        everything = await read_all(media_stack.kafka_bootstrap, "retention-audit")
        busiest = max(
            {r.partition for r in everything}, key=lambda p: sum(r.partition == p for r in everything)
        )
        records = [r for r in everything if r.partition == busiest]
        assert len(records) >= 3
        copy = f"audit-copy-{uuid.uuid4().hex[:6]}"
        await asyncio.to_thread(media_stack.create_topics, [copy], 1)
        tampered = json.loads(records[1].value)
        tampered["caused_by"] += "-forged"  # always a change (a new type could be the one it had)
        values = [r.value for r in records]
        values[1] = json.dumps(tampered).encode()
        await produce(media_stack.kafka_bootstrap, copy, [(b"k", v) for v in values])
        result = verify_audit(media_stack, copy, checkpoints=f"{copy}-checkpoints")
        assert result.returncode == 1
        (broken,) = json.loads(result.stdout)["broken"]
        assert (broken["partition"], broken["offset"]) == (0, 1)


class TestNoPersonalDataInLogs:
    async def test_bad_events_carrying_personal_data_leave_it_out_of_the_log(
        self, worker: WorkerProcess, media_stack: LocalStack
    ) -> None:
        name, address, phone, national_id = PERSONAL
        log_before = worker.log_path.stat().st_size
        alarm_id = f"pii-{uuid.uuid4().hex[:6]}"
        bad = [
            f"not json at all: {name}, {address}".encode(),
            alarm_json(alarm_id, ["a.jpg"], bucket=MEDIA_BUCKET, customer_name=name, phone=phone),
            alarm_json(alarm_id, [f"{national_id}/{name}.jpg"], bucket="payroll"),
            alarm_json(alarm_id, ["a.jpg"], bucket=MEDIA_BUCKET, customer_id=f"{name} {national_id}"),
            json.dumps({"type": address, "event_id": phone}).encode(),
        ]
        await produce(media_stack.kafka_bootstrap, "alarm-events", [(alarm_id.encode(), v) for v in bad])
        letters = await wait_for_records(
            media_stack.kafka_bootstrap,
            "retention-deadletter",
            lambda r: base64.b64decode(r["value_base64"]) in bad,
            count=len(bad),
        )
        assert len(letters) == len(bad)  # the bytes are kept where they belong: the dead-letter topic
        # The worker logs each of them just after dead-lettering it: read the log once all are there.
        expected = {(letter["source"]["partition"], letter["source"]["offset"]) for letter in letters}
        log, logged = "", set()
        for _ in range(100):
            log = worker.log_path.read_bytes()[log_before:].decode(errors="replace")
            logged = {
                (line["partition"], line["offset"])
                for line in log_lines(log)
                if line.get("event") == "record.dead_lettered" and line.get("topic") == "alarm-events"
            }
            if expected <= logged:
                break
            await asyncio.sleep(0.1)
        assert expected <= logged
        for value in PERSONAL:
            assert value not in log, f"{value!r} appears in the worker's log"
