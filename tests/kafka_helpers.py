"""Producing and reading topics with a plain Kafka client, as the alarm platform and a reader would."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition


async def produce(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes | None]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)  # default partitioner: murmur2, like Java
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def read_all(bootstrap: str, topic: str) -> list[Any]:
    """Every record of a topic, from the beginning to the current end."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        if partitions is None:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        records: list[Any] = []
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            batches = await consumer.getmany(*tps, timeout_ms=500)
            for batch in batches.values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()


async def read_json(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    return [json.loads(r.value) for r in await read_all(bootstrap, topic)]


async def wait_for_records(
    bootstrap: str, topic: str, predicate: Any, count: int = 1, timeout: float = 30.0
) -> list[dict[str, Any]]:
    """Poll a topic until `count` JSON records match `predicate`; fail with what was there."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    matching: list[dict[str, Any]] = []
    while loop.time() < deadline:
        matching = [r for r in await read_json(bootstrap, topic) if predicate(r)]
        if len(matching) >= count:
            return matching
        await asyncio.sleep(0.5)
    raise AssertionError(f"only {len(matching)} of {count} matching records on {topic}: {matching}")


async def wait_for_objects(
    bootstrap: str, topic: str, predicate: Any, objects: int, timeout: float = 30.0
) -> list[dict[str, Any]]:
    """Poll until the matching audit records name `objects` objects in all (one record may name many)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    matching: list[dict[str, Any]] = []
    while loop.time() < deadline:
        matching = [r for r in await read_json(bootstrap, topic) if predicate(r)]
        if sum(len(r.get("objects", [])) for r in matching) >= objects:
            return matching
        await asyncio.sleep(0.5)
    raise AssertionError(f"fewer than {objects} objects in the matching records on {topic}: {matching}")
