"""Rule R1 end to end: real Kafka client in, real worker process, real S3 objects gone on time."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from streams.kafka.partitioning import partition_for
from streams.kafka.topology import DEFAULT_PARTITIONS
from streams.local.stack import EVIDENCE_BUCKET, MEDIA_BUCKET, LocalStack
from streams.local.worker_process import WorkerProcess
from tests.builders import alarm_json
from tests.e2e.helpers import RETENTION_SECONDS, exists, sleep_until, version_count, wait_until_gone
from tests.kafka_helpers import produce, read_json, wait_for_objects, wait_for_records

pytestmark = pytest.mark.e2e


def new_alarm() -> str:
    return f"alarm-{uuid.uuid4().hex[:10]}"


class TestMediaIsDeletedOnTime:
    async def test_objects_stay_until_the_deadline_and_go_right_after(
        self, worker: WorkerProcess, media_stack: LocalStack, s3: Any
    ) -> None:
        alarm_id = new_alarm()
        plain = [(MEDIA_BUCKET, f"{alarm_id}/image-{i}.jpg") for i in range(3)]
        evidence = [(EVIDENCE_BUCKET, f"{alarm_id}/clip-{i}.mp4") for i in range(2)]
        for bucket, key in plain:
            s3.put_object(Bucket=bucket, Key=key, Body=b"jpeg")
        for bucket, key in evidence:  # a versioned bucket: two versions each
            s3.put_object(Bucket=bucket, Key=key, Body=b"first")
            s3.put_object(Bucket=bucket, Key=key, Body=b"second")
        triggered_at = datetime.now(UTC)
        deadline = triggered_at + timedelta(seconds=RETENTION_SECONDS)
        event = {
            "type": "alarm.triggered",
            "event_id": str(uuid.uuid4()),
            "alarm_id": alarm_id,
            "customer_id": "customer-e2e",
            "triggered_at": triggered_at.isoformat(),
            "media": [{"bucket": b, "key": k} for b, k in plain + evidence],
        }
        await produce(
            media_stack.kafka_bootstrap,
            "alarm-events",
            [(alarm_id.encode(), json.dumps(event).encode())],
        )

        await sleep_until(deadline - timedelta(seconds=1.5))
        assert all(exists(s3, b, k) for b, k in plain + evidence), "deleted before the deadline"

        await sleep_until(deadline)
        await wait_until_gone(s3, plain + evidence, timeout=5)
        assert all(version_count(s3, b, k) == 0 for b, k in evidence), "old versions left behind"

        audit = await wait_for_objects(
            media_stack.kafka_bootstrap,
            "retention-audit",
            lambda r: r.get("alarm_id") == alarm_id and r["type"] == "media.deleted",
            objects=5,
        )
        assert sorted(o["key"] for r in audit for o in r["objects"]) == sorted(k for _, k in plain + evidence)
        for record in audit:
            assert datetime.fromisoformat(record["deadline"]) == deadline
            lateness = float(record["details"]["lateness_seconds"])
            assert 0 <= lateness < 5, record
            assert record["customer_id"] == "customer-e2e"

    async def test_media_stored_after_the_trigger_goes_with_its_alarm(
        self, worker: WorkerProcess, media_stack: LocalStack, s3: Any
    ) -> None:
        alarm_id = new_alarm()
        triggered_at = datetime.now(UTC)
        first, later = (MEDIA_BUCKET, f"{alarm_id}/a.jpg"), (MEDIA_BUCKET, f"{alarm_id}/clip.mp4")
        for bucket, key in (first, later):
            s3.put_object(Bucket=bucket, Key=key, Body=b"x")
        await produce(
            media_stack.kafka_bootstrap,
            "alarm-events",
            [
                (
                    alarm_id.encode(),
                    alarm_json(alarm_id, [first[1]], bucket=MEDIA_BUCKET, at=triggered_at),
                ),
                (
                    alarm_id.encode(),
                    alarm_json(
                        alarm_id,
                        [later[1]],
                        bucket=MEDIA_BUCKET,
                        at=triggered_at,
                        event_type="media.stored",
                    ),
                ),
            ],
        )
        deadline = triggered_at + timedelta(seconds=RETENTION_SECONDS)
        await sleep_until(deadline - timedelta(seconds=1.5))
        assert exists(s3, *first)
        assert exists(s3, *later)
        await sleep_until(deadline)
        await wait_until_gone(s3, [first, later], timeout=5)


class TestAtLeastOnceDelivery:
    async def test_the_same_event_twice_is_scheduled_and_deleted_once(
        self, worker: WorkerProcess, media_stack: LocalStack, s3: Any
    ) -> None:
        alarm_id = new_alarm()
        key = f"{alarm_id}/a.jpg"
        s3.put_object(Bucket=MEDIA_BUCKET, Key=key, Body=b"x")
        value = alarm_json(alarm_id, [key], bucket=MEDIA_BUCKET)
        await produce(media_stack.kafka_bootstrap, "alarm-events", [(alarm_id.encode(), value)] * 2)
        await wait_for_records(
            media_stack.kafka_bootstrap,
            "retention-audit",
            lambda r: r.get("alarm_id") == alarm_id and r["type"] == "media.deleted",
            timeout=RETENTION_SECONDS + 15,
        )
        # A second deletion, if the duplicate scheduled one, was due at the same moment: once a later
        # deadline on the same partition is recorded, it would have been recorded too.
        probe = new_alarm()
        while partition_for(probe, DEFAULT_PARTITIONS) != partition_for(alarm_id, DEFAULT_PARTITIONS):
            probe = new_alarm()
        due_now = datetime.now(UTC) - timedelta(seconds=RETENTION_SECONDS)
        await produce(
            media_stack.kafka_bootstrap,
            "alarm-events",
            [(probe.encode(), alarm_json(probe, [f"{probe}/a.jpg"], bucket=MEDIA_BUCKET, at=due_now))],
        )
        await wait_for_records(
            media_stack.kafka_bootstrap,
            "retention-audit",
            lambda r: r.get("alarm_id") == probe and r["type"] == "media.deleted",
        )
        audit = [
            r
            for r in await read_json(media_stack.kafka_bootstrap, "retention-audit")
            if r.get("alarm_id") == alarm_id
        ]
        assert sorted(r["type"] for r in audit) == ["media.deleted", "media.deletion_scheduled"]


class TestFailingDeletions:
    async def test_a_deletion_the_store_refuses_is_retried_until_it_succeeds(
        self, worker: WorkerProcess, media_stack: LocalStack, s3: Any
    ) -> None:
        alarm_id = new_alarm()
        key = f"{alarm_id}/locked.jpg"
        version = s3.put_object(Bucket=EVIDENCE_BUCKET, Key=key, Body=b"x")["VersionId"]
        # Someone else's legal hold: S3 refuses the deletion until it is lifted.
        s3.put_object_legal_hold(
            Bucket=EVIDENCE_BUCKET, Key=key, VersionId=version, LegalHold={"Status": "ON"}
        )
        failures_before = worker.health()["deletion_failures_total"]  # type: ignore[index]
        triggered_at = datetime.now(UTC) - timedelta(seconds=RETENTION_SECONDS)  # already due
        await produce(
            media_stack.kafka_bootstrap,
            "alarm-events",
            [
                (
                    alarm_id.encode(),
                    alarm_json(alarm_id, [key], bucket=EVIDENCE_BUCKET, at=triggered_at),
                )
            ],
        )
        deadline = time.monotonic() + 20
        while worker.health()["deletion_failures_total"] < failures_before + 2:  # type: ignore[index, operator]
            assert time.monotonic() < deadline, "the refused deletion was not retried"
            await asyncio.sleep(0.2)
        assert exists(s3, EVIDENCE_BUCKET, key)
        assert worker.health()["deletions_outstanding"] >= 1  # type: ignore[index, operator]

        s3.put_object_legal_hold(
            Bucket=EVIDENCE_BUCKET, Key=key, VersionId=version, LegalHold={"Status": "OFF"}
        )
        await wait_until_gone(s3, [(EVIDENCE_BUCKET, key)], timeout=30)
        assert version_count(s3, EVIDENCE_BUCKET, key) == 0
        await wait_for_records(
            media_stack.kafka_bootstrap,
            "retention-audit",
            lambda r: r.get("alarm_id") == alarm_id and r["type"] == "media.deleted",
        )


class TestBadInput:
    async def test_bad_records_are_dead_lettered_with_their_reason_and_the_worker_carries_on(
        self, worker: WorkerProcess, media_stack: LocalStack
    ) -> None:
        marker = uuid.uuid4().hex[:8]
        alarm = f"bad-{marker}"
        no_offset = alarm_json(alarm, ["a.jpg"], bucket=MEDIA_BUCKET).replace(b"+00:00", b"")
        bad = [
            (alarm.encode(), f"not json {marker}".encode()),
            (alarm.encode(), json.dumps({"type": "alarm.triggered", "event_id": marker}).encode()),
            (alarm.encode(), no_offset),
            (
                alarm.encode(),
                alarm_json(alarm, ["a.jpg"], bucket=MEDIA_BUCKET, event_type="alarm.snoozed"),
            ),
            (alarm.encode(), alarm_json(alarm, ["a.jpg"], bucket="payroll")),
            (b"someone-else", alarm_json(alarm, ["a.jpg"], bucket=MEDIA_BUCKET)),
        ]
        good = new_alarm()
        await produce(
            media_stack.kafka_bootstrap,
            "alarm-events",
            [*bad, (good.encode(), alarm_json(good, ["fine.jpg"], bucket=MEDIA_BUCKET))],
        )
        originals = {value for _, value in bad}
        letters = await wait_for_records(
            media_stack.kafka_bootstrap,
            "retention-deadletter",
            lambda r: base64.b64decode(r["value_base64"]) in originals,
            count=len(bad),
        )
        reasons = sorted(letter["reason"] for letter in letters)
        assert any(r.startswith("not valid JSON") for r in reasons)
        assert any(r.startswith("schema violation: alarm_id: Field required") for r in reasons)
        assert any("RFC 3339 timestamp with an offset" in r for r in reasons)
        assert any(r.startswith("unknown type 'alarm.snoozed'") for r in reasons)
        assert any(r == "bucket(s) payroll not in MEDIA_BUCKETS" for r in reasons)
        assert any("must be keyed by alarm_id" in r for r in reasons)
        for letter in letters:
            assert letter["source"]["topic"] == "alarm-events"
            assert isinstance(letter["source"]["partition"], int)
            assert isinstance(letter["source"]["offset"], int)

        await wait_for_records(
            media_stack.kafka_bootstrap,
            "retention-audit",
            lambda r: r.get("alarm_id") == good and r["type"] == "media.deletion_scheduled",
        )
        assert worker.process is not None
        assert worker.process.poll() is None
