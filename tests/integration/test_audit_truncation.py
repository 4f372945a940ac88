"""An audit partition whose oldest records are gone, on a real broker: `retention audit verify` tells
retention from removal before its time, and a worker resuming a chain whose last record is gone does
not wait for it.

Tansu cannot delete records (its DeleteRecords is unimplemented) and applies no retention, so the
records are removed the way its S3 engine would lose them: their batch objects are deleted from the
broker's bucket. Each record is produced as a batch of its own.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from handlers.audit_chain import GENESIS, Checkpoint, seal
from streams.audit.chain import AuditChain
from streams.audit.verify import Verdict, verify_audit_topic
from streams.local.stack import BROKER_BUCKET, LocalStack

pytestmark = pytest.mark.integration

RETENTION_MS = 6 * 365 * 24 * 3600 * 1000
LONG_AGO = datetime.now(UTC) - timedelta(days=7 * 365)  # past the retention
RECENTLY = datetime.now(UTC) - timedelta(hours=1)


async def create(stack: LocalStack, *topics: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(t, 1, 1, topic_configs={"retention.ms": str(RETENTION_MS)}) for t in topics]
        )
    finally:
        await admin.close()


async def write_chain(stack: LocalStack, topic: str, count: int) -> list[str]:
    """`count` chained records, one batch each; their hashes."""
    hashes, prev = [], GENESIS
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, linger_ms=0)
    await producer.start()
    try:
        for n in range(count):
            sealed = seal(prev, {"type": "media.deleted", "audit_id": f"a-{n}"})
            prev = sealed["hash"]
            hashes.append(prev)
            await producer.send_and_wait(topic, json.dumps(sealed).encode(), key=b"alarm", partition=0)
    finally:
        await producer.stop()
    return hashes


async def write_checkpoints(stack: LocalStack, topic: str, checkpoints: list[Checkpoint]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap)
    await producer.start()
    try:
        for checkpoint in checkpoints:
            await producer.send_and_wait(topic, checkpoint.to_json(), key=b"0")
    finally:
        await producer.stop()


def remove_batches(stack: LocalStack, topic: str, below: int) -> int:
    """Delete the batch objects of partition 0 whose base offset is below `below`."""
    s3 = stack.s3_client()
    prefix = "clusters/"
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BROKER_BUCKET, Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            if f"/topics/{topic}/partitions/0000000000/records/" not in key or not key.endswith(".batch"):
                continue
            if int(key.rsplit("/", 1)[1].removesuffix(".batch")) < below:
                found.append(key)
    for key in found:
        s3.delete_object(Bucket=BROKER_BUCKET, Key=key)
    return len(found)


async def verified_after_removing_four(
    stack: LocalStack, names: tuple[str, str], *, checkpointed: int, at: datetime
) -> Verdict:
    """A chain of 10 records, a checkpoint of the record at `checkpointed` written `at`, the first four
    records removed from the broker's bucket; then what `retention audit verify` makes of it."""
    audit, checkpoints = names
    await create(stack, audit, checkpoints)
    hashes = await write_chain(stack, audit, 10)
    await write_checkpoints(stack, checkpoints, [Checkpoint(0, checkpointed, hashes[checkpointed], at)])
    assert await asyncio.to_thread(remove_batches, stack, audit, 4) == 4
    return await asyncio.wait_for(
        verify_audit_topic({"bootstrap_servers": stack.kafka_bootstrap}, audit, checkpoints), 60
    )


@pytest.fixture
def names() -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:8]
    return f"audit-{suffix}", f"audit-checkpoints-{suffix}"


async def test_records_removed_by_retention_are_counted_and_the_rest_verifies(
    stack: LocalStack, names: tuple[str, str]
) -> None:
    verdict = await verified_after_removing_four(stack, names, checkpointed=3, at=LONG_AGO)
    assert verdict.intact, verdict.partitions
    assert (verdict.records, verdict.removed_by_retention, verdict.checkpoints) == (6, 4, 1)
    assert verdict.retention == timedelta(milliseconds=RETENTION_MS)


async def test_records_removed_before_their_time_are_reported(
    stack: LocalStack, names: tuple[str, str]
) -> None:
    verdict = await verified_after_removing_four(stack, names, checkpointed=2, at=RECENTLY)
    assert not verdict.intact
    (problem,) = [p.problem for p in verdict.partitions if p.problem is not None]
    assert problem.offset == 4
    assert "within the topic's retention" in problem.reason


async def test_resuming_a_chain_whose_last_record_is_gone_continues_from_its_checkpoint(
    stack: LocalStack, names: tuple[str, str]
) -> None:
    audit, checkpoints = names
    await create(stack, audit, checkpoints)
    hashes = await write_chain(stack, audit, 5)
    options = {"bootstrap_servers": stack.kafka_bootstrap}

    chain = AuditChain(None, options, audit, checkpoint_topic=checkpoints, resume_wait=3.0)
    await asyncio.wait_for(chain.resume([0]), 60)
    assert chain.last_hash(0) == hashes[4]  # the last record, read

    await write_checkpoints(stack, checkpoints, [Checkpoint(0, 4, hashes[4], LONG_AGO)])
    await asyncio.to_thread(remove_batches, stack, audit, 5)  # every record gone
    await asyncio.wait_for(chain.resume([0]), 60)  # waited for a record nobody will write before
    assert chain.last_hash(0) == hashes[4]  # from the checkpoint: the chain goes on where it was
