"""Rules R2 and R3 end to end: police holds, the hold limit, late holds, and contract ends.

The worker runs with MEDIA_RETENTION=PT12S, HOLD_RETENTION=PT40S and HOLD_EXPIRY_WARNING=PT10S, so
"7 days" is 12 seconds and "30 days" is 40.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from streams.kafka.partitioning import partition_for
from streams.kafka.topology import DEFAULT_PARTITIONS
from streams.local.stack import EVIDENCE_BUCKET, MEDIA_BUCKET, LocalStack
from streams.local.worker_process import WorkerProcess
from tests.builders import contract_ended_json, hold_placed_json, hold_released_json
from tests.e2e.helpers import (
    HOLD_SECONDS,
    RETENTION_SECONDS,
    WARNING_SECONDS,
    audit_of,
    exists,
    legal_hold_status,
    send,
    sleep_until,
    trigger,
    unique,
    upload,
    version_count,
    wait_until_gone,
)
from tests.kafka_helpers import wait_for_objects, wait_for_records

pytestmark = pytest.mark.e2e


class TestAPoliceHold:
    async def test_keeps_media_past_its_deadline_with_a_legal_hold_until_released(
        self, worker: WorkerProcess, media_stack: LocalStack, s3: Any
    ) -> None:
        alarm_id, hold_id = unique("held"), unique("hold")
        objects = upload(s3, EVIDENCE_BUCKET, alarm_id, 2)
        triggered_at = datetime.now(UTC)
        await trigger(media_stack, alarm_id, objects, triggered_at)
        await audit_of(media_stack, alarm_id, "media.deletion_scheduled")
        await send(media_stack, "police-holds", alarm_id, hold_placed_json(alarm_id, hold_id))

        accepted = await audit_of(media_stack, alarm_id, "hold.accepted")
        assert accepted[0]["details"]["placed_by"] == "liaison@police.example"
        extended = await audit_of(media_stack, alarm_id, "media.retention_extended")
        assert sorted(o["key"] for r in extended for o in r["objects"]) == sorted(k for _, k in objects)
        assert {r["deadline"] for r in extended} == {
            (triggered_at + timedelta(seconds=HOLD_SECONDS)).isoformat().replace("+00:00", "Z")
        }

        await sleep_until(triggered_at + timedelta(seconds=RETENTION_SECONDS + 3))
        assert all(exists(s3, *o) for o in objects), "held media was deleted at the normal deadline"
        assert all(legal_hold_status(s3, *o) == ["ON"] for o in objects), "no S3 legal hold while held"

        released_at = datetime.now(UTC)
        await send(
            media_stack, "police-holds", alarm_id, hold_released_json(alarm_id, hold_id, at=released_at)
        )
        await wait_until_gone(s3, objects, timeout=10)
        assert all(version_count(s3, *o) == 0 for o in objects)
        deleted = await wait_for_objects(
            media_stack.kafka_bootstrap,
            "retention-audit",
            lambda r: r.get("alarm_id") == alarm_id and r["type"] == "media.deleted",
            objects=2,
        )
        assert all(0 <= float(r["details"]["lateness_seconds"]) < 5 for r in deleted)

    async def test_reaching_the_hold_limit_warns_first_then_deletes(
        self, worker: WorkerProcess, media_stack: LocalStack, s3: Any
    ) -> None:
        alarm_id, hold_id = unique("limit"), unique("hold")
        objects = upload(s3, EVIDENCE_BUCKET, alarm_id, 1)
        triggered_at = datetime.now(UTC)
        limit = triggered_at + timedelta(seconds=HOLD_SECONDS)
        await trigger(media_stack, alarm_id, objects, triggered_at)
        await send(media_stack, "police-holds", alarm_id, hold_placed_json(alarm_id, hold_id))

        warning = await audit_of(media_stack, alarm_id, "hold.expiring", timeout=HOLD_SECONDS)
        warned_at = datetime.fromisoformat(warning[0]["occurred_at"])
        assert limit - timedelta(seconds=WARNING_SECONDS) <= warned_at < limit

        await sleep_until(limit - timedelta(seconds=1.5))
        assert exists(s3, *objects[0]), "held media deleted before the hold limit"
        await sleep_until(limit)
        await wait_until_gone(s3, objects, timeout=5)
        assert version_count(s3, *objects[0]) == 0
        await audit_of(media_stack, alarm_id, "hold.expired")
        (deleted,) = await audit_of(media_stack, alarm_id, "media.deleted")
        assert deleted["rule"] == "R2"


class TestAHoldThatComesTooLate:
    async def test_after_deletion_it_is_rejected_saying_when_the_media_was_deleted(
        self, worker: WorkerProcess, media_stack: LocalStack, s3: Any
    ) -> None:
        alarm_id = unique("late")
        objects = upload(s3, MEDIA_BUCKET, alarm_id, 1)
        await trigger(
            media_stack, alarm_id, objects, datetime.now(UTC) - timedelta(seconds=RETENTION_SECONDS + 1)
        )
        await audit_of(media_stack, alarm_id, "media.deleted")
        await send(media_stack, "police-holds", alarm_id, hold_placed_json(alarm_id, unique("hold")))
        (rejected,) = await audit_of(media_stack, alarm_id, "hold.rejected")
        assert rejected["details"]["reason"] == "media_already_deleted"
        assert "deleted_at" in rejected["details"]

    async def test_for_an_alarm_not_seen_yet_it_waits_for_the_alarm(
        self, worker: WorkerProcess, media_stack: LocalStack, s3: Any
    ) -> None:
        alarm_id, hold_id = unique("early"), unique("hold")
        await send(media_stack, "police-holds", alarm_id, hold_placed_json(alarm_id, hold_id))
        await audit_of(media_stack, alarm_id, "hold.waiting_for_alarm")
        objects = upload(s3, MEDIA_BUCKET, alarm_id, 1)
        triggered_at = datetime.now(UTC)
        await trigger(media_stack, alarm_id, objects, triggered_at)
        (accepted,) = await audit_of(media_stack, alarm_id, "hold.accepted")
        assert accepted["details"]["waited_for_alarm"] == "true"
        await sleep_until(triggered_at + timedelta(seconds=RETENTION_SECONDS + 2))
        assert exists(s3, *objects[0])
        await send(media_stack, "police-holds", alarm_id, hold_released_json(alarm_id, hold_id))
        await wait_until_gone(s3, objects, timeout=10)


class TestAContractEnd:
    async def test_deletes_the_customers_media_now_except_what_the_police_hold(
        self, worker: WorkerProcess, media_stack: LocalStack, s3: Any
    ) -> None:
        customer = unique("customer")
        # Alarms on different partitions of the service: the end must reach all of them.
        alarms: list[str] = []
        while len({partition_for(a, DEFAULT_PARTITIONS) for a in alarms}) < 3:
            alarms.append(unique("ended"))
        held_alarm, hold_id = alarms[0], unique("hold")
        uploads = {a: upload(s3, MEDIA_BUCKET, a, 1) for a in alarms}
        triggered_at = datetime.now(UTC)
        for alarm_id in alarms:
            await trigger(media_stack, alarm_id, uploads[alarm_id], triggered_at, customer_id=customer)
        await send(media_stack, "police-holds", held_alarm, hold_placed_json(held_alarm, hold_id))
        await audit_of(media_stack, held_alarm, "hold.accepted")

        await send(media_stack, "contract-events", customer, contract_ended_json(customer))
        free = [o for a in alarms[1:] for o in uploads[a]]
        await wait_until_gone(s3, free, timeout=8)
        assert datetime.now(UTC) < triggered_at + timedelta(seconds=RETENTION_SECONDS), (
            "not deleted at the end"
        )
        (kept,) = await audit_of(media_stack, held_alarm, "alarm.contract_ended")
        assert kept["details"]["kept_for_holds"] == hold_id
        assert exists(s3, *uploads[held_alarm][0])

        # An alarm of the same customer that arrives after the end goes at once.
        straggler = unique("after-end")
        straggler_objects = upload(s3, MEDIA_BUCKET, straggler, 1)
        await trigger(media_stack, straggler, straggler_objects, datetime.now(UTC), customer_id=customer)
        await wait_until_gone(s3, straggler_objects, timeout=8)

        # The held alarm goes when its hold is released.
        await send(media_stack, "police-holds", held_alarm, hold_released_json(held_alarm, hold_id))
        await wait_until_gone(s3, uploads[held_alarm], timeout=8)
        await wait_for_records(
            media_stack.kafka_bootstrap,
            "retention-audit",
            lambda r: r["type"] == "contract.end_received" and r.get("customer_id") == customer,
        )
