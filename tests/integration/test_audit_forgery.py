"""Forgeries of the audit trail, on a real broker and a real Object Lock bucket: a record appended by
someone without the chain key, a partition rewritten by someone with it (its checkpoint topic
rewritten too), and a partition cut short (its checkpoints cut too). `retention audit verify` finds
each, because the chain is keyed and its checkpoints are also anchored where nobody can remove them.

Kafka has no way to rewrite or truncate a partition in place, which is what an administrator of the
broker could do; the forged partition is therefore written as the topic the verifier is pointed at,
and the anchor holds what the worker checkpointed of the genuine one.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from handlers.audit_chain import GENESIS, Checkpoint, seal
from streams.audit.anchor import AuditAnchor, anchor_key, read_anchor
from streams.audit.verify import Verdict, verify_audit_topic
from streams.local.stack import ANCHOR_BUCKET, LocalStack

pytestmark = pytest.mark.integration

KEY = ("k1", b"the chain key, held by the worker and the auditor")
KEYS = {KEY[0]: KEY[1]}
RETENTION = timedelta(days=6 * 365)


def chain(count: int, key: tuple[str, bytes] | None = KEY, start: list[dict[str, Any]] | None = None,
          tag: str = "genuine") -> list[dict[str, Any]]:  # fmt: skip
    """`count` sealed records, continuing `start` if given."""
    records = list(start or [])
    prev = records[-1]["hash"] if records else GENESIS
    for n in range(len(records), count):
        records.append(seal(prev, {"type": "media.deleted", "audit_id": f"{tag}-{n}", "alarm_id": "a"}, key))
        prev = records[-1]["hash"]
    return records


async def write(stack: LocalStack, topic: str, records: list[dict[str, Any]]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1, topic_configs={"retention.ms": "-1"})])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap)
    await producer.start()
    try:
        for record in records:
            await producer.send_and_wait(topic, json.dumps(record).encode(), key=b"a", partition=0)
    finally:
        await producer.stop()


async def anchored(stack: LocalStack, topic: str, records: list[dict[str, Any]], offsets: list[int]) -> None:
    """What the worker would have anchored of the genuine partition: checkpoints at `offsets`."""
    stack.create_bucket(ANCHOR_BUCKET, object_lock=True)
    anchor = AuditAnchor(stack.s3_client(), ANCHOR_BUCKET, topic, RETENTION)
    anchor.add(Checkpoint(0, n, records[n]["hash"], datetime.now(UTC)) for n in offsets)
    await anchor.flush()
    assert anchor.written == len(offsets), anchor.problem


async def verdict(stack: LocalStack, topic: str, with_anchor: bool = True) -> Verdict:
    checkpoints = (
        await asyncio.to_thread(read_anchor, stack.s3_client(), ANCHOR_BUCKET, topic) if with_anchor else []
    )
    empty_checkpoint_topic = f"{topic}-checkpoints"  # cut along with the partition: nothing in it
    return await asyncio.wait_for(
        verify_audit_topic(
            {"bootstrap_servers": stack.kafka_bootstrap},
            topic,
            empty_checkpoint_topic,
            keys=KEYS,
            anchored=checkpoints,
        ),
        60,
    )


def problem(result: Verdict) -> Any:
    (found,) = [p.problem for p in result.partitions if p.problem is not None]
    return found


@pytest.fixture
def topic() -> str:
    return f"audit-forgery-{uuid.uuid4().hex[:8]}"


async def test_the_genuine_trail_verifies_against_its_anchor(stack: LocalStack, topic: str) -> None:
    genuine = chain(10)
    await write(stack, topic, genuine)
    await anchored(stack, topic, genuine, [4, 9])
    result = await verdict(stack, topic)
    assert result.intact, result.partitions
    assert (result.records, result.anchored) == (10, 2)


async def test_a_record_appended_without_the_key_is_found(stack: LocalStack, topic: str) -> None:
    genuine = chain(10)
    await anchored(stack, topic, genuine, [9])
    # Whoever can write to the topic: a plain SHA-256 link, and a guess at a keyed one.
    unkeyed = chain(11, key=None, start=genuine, tag="forged")
    guessed = chain(12, key=("k1", b"a guess"), start=unkeyed, tag="forged")
    await write(stack, topic, guessed)
    found = problem(await verdict(stack, topic))
    assert found.offset == 10
    assert "not keyed" in found.reason


async def test_a_record_appended_with_a_wrong_key_is_found(stack: LocalStack, topic: str) -> None:
    genuine = chain(10)
    await anchored(stack, topic, genuine, [9])
    await write(stack, topic, chain(11, key=("k1", b"a guess"), start=genuine, tag="forged"))
    found = problem(await verdict(stack, topic))
    assert found.offset == 10
    assert "hash does not match" in found.reason


async def test_a_partition_rewritten_with_the_key_is_found_by_the_anchor(
    stack: LocalStack, topic: str
) -> None:
    genuine = chain(10)
    await anchored(stack, topic, genuine, [4, 9])
    # An insider with the chain key rewrites records 7 to 9 and re-seals them: the chain alone is whole.
    rewritten = chain(10, start=genuine[:7], tag="rewritten")
    await write(stack, topic, rewritten)
    assert (await verdict(stack, topic, with_anchor=False)).intact  # what the topics alone can tell
    found = problem(await verdict(stack, topic))
    assert found.offset == 9
    assert "not the record checkpointed" in found.reason


async def test_a_cut_tail_is_found_by_the_anchor(stack: LocalStack, topic: str) -> None:
    genuine = chain(10)
    await anchored(stack, topic, genuine, [4, 9])
    await write(stack, topic, genuine[:7])  # the last three records gone, their checkpoints too
    assert (await verdict(stack, topic, with_anchor=False)).intact
    found = problem(await verdict(stack, topic))
    assert found.offset == 7
    assert "records at its end were removed" in found.reason


async def test_an_anchored_checkpoint_can_be_neither_removed_nor_replaced(
    stack: LocalStack, topic: str
) -> None:
    genuine = chain(5)
    await anchored(stack, topic, genuine, [4])
    s3 = stack.s3_client()
    key = anchor_key(topic, Checkpoint(0, 4, "", datetime.now(UTC)))
    (version,) = s3.list_object_versions(Bucket=ANCHOR_BUCKET, Prefix=key)["Versions"]
    with pytest.raises(s3.exceptions.ClientError, match="AccessDenied"):
        s3.delete_object(Bucket=ANCHOR_BUCKET, Key=key, VersionId=version["VersionId"])
    # Written again (a restart): already there, nothing changes, nothing fails.
    again = AuditAnchor(s3, ANCHOR_BUCKET, topic, RETENTION)
    again.add([Checkpoint(0, 4, genuine[4]["hash"], datetime.now(UTC))])
    await again.flush()
    assert (again.written, again.failures) == (1, 0)
    assert len(s3.list_object_versions(Bucket=ANCHOR_BUCKET, Prefix=key)["Versions"]) == 1
