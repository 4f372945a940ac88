"""The end of an alarm's record, end to end: its media deleted, its state shrunk to a marker with no
personal data in the changelog, then a police hold for it, answered at once from the marker.

The shared worker runs with MEDIA_RETENTION=PT12S (tests/e2e/conftest.py).
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from streams.local.stack import MEDIA_BUCKET, LocalStack
from streams.local.worker_process import WorkerProcess
from tests.builders import hold_placed_json
from tests.e2e.helpers import audit_of, send, trigger, unique, upload, wait_until_gone
from tests.kafka_helpers import read_all

pytestmark = pytest.mark.e2e
CHANGELOG = "e2e-retention-alarms-changelog"


async def _latest_state(stack: LocalStack, alarm_id: str) -> dict[str, Any] | None:
    """What the alarms table's changelog last says of the alarm (None: a tombstone)."""
    records = await read_all(stack.kafka_bootstrap, CHANGELOG)
    values = [r.value for r in records if r.key == alarm_id.encode()]
    assert values, f"{alarm_id} never reached the changelog"
    return json.loads(values[-1]) if values[-1] is not None else None


async def _marker(
    stack: LocalStack, alarm_id: str, timeout: float = 20, without_outbox: bool = False
) -> dict[str, Any]:
    """The alarm's state once it is a marker (the last deletion's confirmation writes it)."""
    deadline = time.monotonic() + timeout
    while True:
        state = await _latest_state(stack, alarm_id)
        if state is not None and "ended_at" in state["state"] and not (without_outbox and "outbox" in state):
            return state
        assert time.monotonic() < deadline, f"{alarm_id}'s record did not end: {state}"
        await asyncio.sleep(0.5)


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class TestAnAlarmWhoseMediaWent:
    async def test_leaves_a_marker_without_personal_data_that_answers_a_late_hold(
        self, worker: WorkerProcess, media_stack: LocalStack, s3: Any
    ) -> None:
        alarm_id, hold_id = unique("ended"), unique("hold")
        objects = upload(s3, MEDIA_BUCKET, alarm_id, 2)
        await trigger(media_stack, alarm_id, objects, datetime.now(UTC))
        await wait_until_gone(s3, objects, timeout=40)
        deleted = await audit_of(media_stack, alarm_id, "media.deleted")
        gone_at = max(_moment(r["occurred_at"]) for r in deleted)

        marker = (await _marker(media_stack, alarm_id))["state"]
        assert set(marker) == {"alarm_id", "ended_at", "media_gone_at"}, marker
        assert _moment(marker["media_gone_at"]) == gone_at

        await send(media_stack, "police-holds", alarm_id, hold_placed_json(alarm_id, hold_id))
        (rejected,) = await audit_of(media_stack, alarm_id, "hold.rejected")
        assert rejected["hold_id"] == hold_id
        assert rejected["details"]["reason"] == "media_already_deleted"
        assert _moment(rejected["details"]["deleted_at"]) == gone_at
        # The marker is written once more without its outbox (the last audit records, which name the
        # customer and the objects, travel with it until the audit topic has them): then the changelog
        # holds nothing of the customer, the objects, or the hold (its case reference, who placed it).
        final = await _marker(media_stack, alarm_id, without_outbox=True)
        assert final == {"v": 1, "state": marker}

    async def test_a_redelivered_alarm_event_puts_no_personal_data_back(
        self, worker: WorkerProcess, media_stack: LocalStack, s3: Any
    ) -> None:
        alarm_id = unique("again")
        objects = upload(s3, MEDIA_BUCKET, alarm_id, 1)
        triggered_at = datetime.now(UTC)
        await trigger(media_stack, alarm_id, objects, triggered_at)
        await wait_until_gone(s3, objects, timeout=40)
        await audit_of(media_stack, alarm_id, "media.deleted")
        marker = (await _marker(media_stack, alarm_id))["state"]

        # The platform sends the alarm again, and meanwhile the object came back (a retried upload).
        upload(s3, MEDIA_BUCKET, alarm_id, 1)
        await trigger(media_stack, alarm_id, objects, triggered_at)
        (after_end,) = await audit_of(media_stack, alarm_id, "alarm.event_after_end")
        assert after_end["objects"] == [{"bucket": b, "key": k} for b, k in objects]
        await wait_until_gone(s3, objects, timeout=20)
        (confirmed,) = await audit_of(media_stack, alarm_id, "media.deleted_after_end")
        assert confirmed["objects"] == after_end["objects"]
        assert confirmed["customer_id"] is None
        # The keys it held while the deletion was under way have left the marker again (its outbox holds
        # the last audit record until the topic has it and the partition's next record clears it).
        deadline = time.monotonic() + 20
        while (state := (await _marker(media_stack, alarm_id))["state"]) != marker:
            assert time.monotonic() < deadline, f"the marker kept {state}"
            await asyncio.sleep(0.5)
