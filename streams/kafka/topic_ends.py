"""Where a partition really ends: the high watermark of a Fetch response, never ListOffsets alone.

Tansu 0.6.0 answers ListOffsets(latest) from the batch it last wrote (memory engine: that batch's base
offset + 1) or from the batch with the newest modification time in the store (S3 engine, which has a
resolution of a second: often the first batch of the last second, + 1). Once a partition holds batches
of several records, the answer is short of the end. Every Fetch response carries the partition's true
high watermark, on Tansu as on Apache Kafka. So whatever must read "up to the end" (table recovery, the
audit chain's last record, the read model's "caught up", `retention audit verify`, the test helpers)
asks a fetch, and a reader is at the end only when its position reaches the high watermark of the
latest fetch.

ListOffsets is still used as a starting point: it is never past the end (Tansu answers short, Kafka
exactly), so fetching from there is one small request. Nothing here gives up by itself: callers bound
the wait with `asyncio.timeout`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Iterable
from contextlib import asynccontextmanager
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

log = structlog.get_logger(__name__)
FETCH_WAIT_MS = 100  # Tansu answers a fetch only when its wait runs out; keep each probe short
POLL_MS = 200


class UnknownTopic(LookupError):
    """The broker does not know the topic."""


def _probe_consumer(client_options: dict[str, Any]) -> AIOKafkaConsumer:
    """A consumer outside any group, for reading partitions to their end."""
    return AIOKafkaConsumer(
        enable_auto_commit=False,
        fetch_max_wait_ms=FETCH_WAIT_MS,
        # A listed offset past the end (a broker bug the other way) must not stall the probe.
        auto_offset_reset="earliest",
        **client_options,
    )


@asynccontextmanager
async def started(client_options: dict[str, Any]) -> AsyncIterator[AIOKafkaConsumer]:
    """A started probe consumer, stopped afterwards whatever happens (also when it cannot start)."""
    consumer = _probe_consumer(client_options)
    try:
        await consumer.start()
        yield consumer
    finally:
        await consumer.stop()


async def high_watermarks(
    consumer: AIOKafkaConsumer, tps: Collection[TopicPartition]
) -> dict[TopicPartition, int]:
    """The end offset (the offset the next record will get) of each partition, from a fetch.

    Assigns `tps` to `consumer` (a started consumer outside any group), replacing its assignment.
    """
    tps = list(tps)
    if not tps:
        return {}
    consumer.assign(tps)
    listed = await consumer.end_offsets(tps)
    for tp in tps:
        consumer.seek(tp, listed[tp])
    while any(consumer.highwater(tp) is None for tp in tps):
        await consumer.getmany(*tps, timeout_ms=POLL_MS)  # what it returns is not needed
    return {tp: int(consumer.highwater(tp)) for tp in tps}


async def read_to_end(
    consumer: AIOKafkaConsumer,
    tps: Collection[TopicPartition],
    *,
    max_records: int | None = None,
) -> AsyncIterator[dict[TopicPartition, list[ConsumerRecord[Any, Any]]]]:
    """Batches from each partition's current position until every position has reached the high
    watermark of the latest fetch. `consumer` is assigned `tps` and positioned by the caller."""
    tps = list(tps)
    while True:
        batches = await consumer.getmany(*tps, timeout_ms=POLL_MS, max_records=max_records)
        if batches:
            yield batches
        if await at_end(consumer, tps):
            return


async def at_end(consumer: AIOKafkaConsumer, tps: Collection[TopicPartition]) -> bool:
    """Whether every position has reached the high watermark its latest fetch reported."""
    for tp in tps:
        highwater = consumer.highwater(tp)
        if highwater is None or await consumer.position(tp) < highwater:
            return False
    return True


async def read_topic(client_options: dict[str, Any], topic: str) -> list[ConsumerRecord[Any, Any]]:
    """Every record of a topic, from the beginning to its end, partition by partition in order.
    Raises UnknownTopic when there is no such topic."""
    records, _ = await read_topic_to_ends(client_options, topic)
    return records


async def read_topic_to_ends(
    client_options: dict[str, Any], topic: str
) -> tuple[list[ConsumerRecord[Any, Any]], dict[int, int]]:
    """`read_topic`, and the end offset of each partition it read to (also of empty ones)."""
    async with started(client_options) as consumer:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise UnknownTopic(f"no topic {topic}")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        by_partition: dict[TopicPartition, list[ConsumerRecord[Any, Any]]] = {tp: [] for tp in tps}
        async for batches in read_to_end(consumer, tps):
            for tp, records in batches.items():
                by_partition[tp].extend(records)
        records = [record for tp in tps for record in by_partition[tp]]
        return records, {tp.partition: int(consumer.highwater(tp) or 0) for tp in tps}


async def committed_total(client_options: dict[str, Any], group: str, topic: str) -> int:
    """How many records of `topic` the consumer group `group` has committed, over all partitions.
    (Asked by a consumer of the group that does not join it: Tansu answers the admin client's
    OffsetFetch in a form aiokafka cannot read.)"""
    consumer = AIOKafkaConsumer(group_id=group, enable_auto_commit=False, **client_options)
    try:
        await consumer.start()
        partitions = consumer.partitions_for_topic(topic) or set()
        offsets = [await consumer.committed(TopicPartition(topic, p)) for p in sorted(partitions)]
    finally:
        await consumer.stop()
    return sum(offset for offset in offsets if offset is not None and offset > 0)


async def assign_every_partition(consumer: AIOKafkaConsumer, topics: Iterable[str]) -> list[TopicPartition]:
    """Assign every partition of `topics` to a consumer outside any group, waiting for topics that do not
    exist yet (the worker creates its topics, and faust its changelogs, when it starts)."""
    tps: list[TopicPartition] = []
    for topic in topics:
        partitions = consumer.partitions_for_topic(topic)
        while not partitions:
            log.info("topic.waiting_to_exist", topic=topic)
            await asyncio.sleep(1)
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic)
        tps.extend(TopicPartition(topic, p) for p in sorted(partitions))
    consumer.assign(tps)
    return tps
