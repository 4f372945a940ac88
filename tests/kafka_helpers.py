"""Producing and reading topics with a plain Kafka client, as the alarm platform and a reader would."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiokafka import AIOKafkaProducer

from streams.kafka.topic_ends import UnknownTopic, committed_total, read_topic
from streams.protection.deadletter_keys import open_letter
from streams.protection.keyring import deadletter_keys_on_broker, subject_keys_on_broker
from streams.protection.sealing import reveal


async def produce(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes | None]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)  # default partitioner: murmur2, like Java
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def produce_burst(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes | None]]) -> None:
    """Send every record without waiting for each, as a busy producer does: the broker gets them in
    batches of several records."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20)
    await producer.start()
    try:
        sent = [await producer.send(topic, value, key=key) for key, value in records]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def read_all(bootstrap: str, topic: str) -> list[Any]:
    """Every record of a topic, from the beginning to its end as a fetch reports it (a topic not
    created yet has none)."""
    try:
        return await read_topic({"bootstrap_servers": bootstrap}, topic)
    except UnknownTopic:
        return []


async def read_json(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """The topic's JSON records. An audit topic's as its readers show them: personal fields opened
    with the keys the worker's `subject-keys` changelogs hold now, the rest erased; a dead-letter
    topic's opened with the dead-letter keys (read_all gives the records as they are on the topic)."""
    documents = [json.loads(r.value) for r in await read_all(bootstrap, topic)]
    options = {"bootstrap_servers": bootstrap}
    if topic.endswith("-audit") and any("encrypted" in d for d in documents):
        keys = await subject_keys_on_broker(options)
        documents = [reveal(d, keys) for d in documents]
    if topic.endswith("-deadletter") and any("encrypted" in d for d in documents):
        letter_keys = await deadletter_keys_on_broker(options)
        documents = [open_letter(d, letter_keys) for d in documents]
    return documents


async def subject_keys(bootstrap: str) -> dict[str, bytes]:
    return await subject_keys_on_broker({"bootstrap_servers": bootstrap})


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


async def wait_for_commit(
    bootstrap: str, group: str, topic: str, records: int, timeout: float = 30.0
) -> None:
    """Until the consumer group has committed `records` records of `topic`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    committed = 0
    while loop.time() < deadline:
        committed = await committed_total({"bootstrap_servers": bootstrap}, group, topic)
        if committed >= records:
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"{group} committed {committed} of {records} records of {topic}")
