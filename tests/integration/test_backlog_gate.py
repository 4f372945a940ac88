"""The backlog gate: deadlines wait until the group has committed past every hold that came earlier.

Real topics on Tansu; the consumer group's commits are made here, as the service's would be.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.local.stack import LocalStack
from streams.worker.backlog_gate import BacklogGate

pytestmark = pytest.mark.integration


async def make_topics(bootstrap: str, *names: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 2, 1) for name in names])
    finally:
        await admin.close()


async def write(bootstrap: str, topic: str, partition: int, count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for _ in range(count):
            await producer.send_and_wait(topic, b"{}", key=b"k", partition=partition)
    finally:
        await producer.stop()


async def commit(bootstrap: str, group: str, offsets: dict[TopicPartition, int]) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit(offsets)
    finally:
        await consumer.stop()


async def until_waiting_for(gate: BacklogGate, what: str) -> None:
    """Until the gate says (as /health shows it) that it waits for `what` and nothing else."""
    for _ in range(200):
        if gate.status.endswith(f": {what}"):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the gate says {gate.status!r}, not that it waits for {what}")


async def test_deadlines_wait_until_the_holds_and_the_alarm_stream_are_committed_to_their_ends(
    stack: LocalStack,
) -> None:
    bootstrap = stack.kafka_bootstrap
    holds, alarm_stream, group = (f"gate-{uuid.uuid4().hex[:6]}-{n}" for n in ("holds", "stream", "group"))
    await make_topics(bootstrap, holds, alarm_stream)
    await write(bootstrap, holds, 1, 3)  # holds that arrived while no worker ran
    await write(bootstrap, alarm_stream, 0, 2)
    gate = BacklogGate({"bootstrap_servers": bootstrap}, group, holds, alarm_stream)
    gate.defer(0, ["alarm-a", "alarm-b"])
    gate.defer(1, ["alarm-c"])  # a partition this worker no longer owns

    draining = asyncio.create_task(gate.drain([0]))
    await until_waiting_for(gate, f"{holds}/1 committed to 3")
    assert not draining.done()
    assert not gate.open
    # The holds are forwarded onto the alarm stream: its end is taken only now, the new record included.
    await write(bootstrap, alarm_stream, 0, 1)
    await commit(bootstrap, group, {TopicPartition(holds, 1): 3})
    await until_waiting_for(gate, f"{alarm_stream}/0 committed to 3")
    assert not draining.done()  # ... but not yet applied on the alarm stream
    assert not gate.open
    await commit(bootstrap, group, {TopicPartition(alarm_stream, 0): 3})
    deferred = await asyncio.wait_for(draining, 10)

    assert gate.open
    assert gate.status == "acting"
    assert deferred == {0: {"alarm-a", "alarm-b"}}


async def test_with_nothing_behind_it_opens_at_once(stack: LocalStack) -> None:
    bootstrap = stack.kafka_bootstrap
    holds, alarm_stream, group = (f"gate-{uuid.uuid4().hex[:6]}-{n}" for n in ("holds", "stream", "group"))
    await make_topics(bootstrap, holds, alarm_stream)
    gate = BacklogGate({"bootstrap_servers": bootstrap}, group, holds, alarm_stream)
    assert await asyncio.wait_for(gate.drain([0, 1]), 10) == {}
    assert gate.open


async def test_the_gate_tells_whether_records_are_left_before_a_partitions_end(stack: LocalStack) -> None:
    """On Apache Kafka the end can lie past the last record (a transaction marker, or records that
    retention removed unread): the group then never commits up to it, and the gate must not wait
    for that forever. Tansu writes no markers and removes nothing, so the probe is checked here."""
    bootstrap = stack.kafka_bootstrap
    holds = f"gate-{uuid.uuid4().hex[:6]}-left"
    await make_topics(bootstrap, holds)
    await write(bootstrap, holds, 0, 3)
    gate = BacklogGate({"bootstrap_servers": bootstrap}, "g", holds, holds)
    tp = TopicPartition(holds, 0)
    assert await gate._any_record(tp, 1, 3)
    assert await gate._any_record(tp, 0, 3)
    assert not await gate._any_record(tp, 3, 3)
