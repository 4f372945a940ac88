"""Reading the keys as a reader outside the worker does (the command line, the test and chaos
harnesses): every subject-keys changelog and dead-letter keys topic on the broker, the latest value of
each name, only keys whose end has not come."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient

from streams.kafka.topic_ends import UnknownTopic, read_topic
from streams.protection.deadletter_keys import live_keys, readable
from streams.protection.subject_keys import SubjectKey


async def subject_keys_on_broker(client_options: dict[str, Any]) -> dict[str, bytes]:
    """kid -> key, from every app's `subject-keys` changelog."""
    now = datetime.now(UTC)
    found: dict[str, bytes] = {}
    for topic in await _topics_ending(client_options, "-subject-keys-changelog"):
        try:
            records = await read_topic(client_options, topic)
        except UnknownTopic:
            continue
        latest: dict[bytes, bytes | None] = {}
        for record in records:
            latest[record.key] = record.value
        for value in latest.values():
            if value and value != b"{}":
                key = SubjectKey.from_json(value)
                if key.kid and key.key and key.ends_at > now:
                    found[key.kid] = key.key
    return found


async def deadletter_keys_on_broker(client_options: dict[str, Any]) -> dict[str, bytes]:
    """kid -> key, from every dead-letter keys topic."""
    found: dict[str, bytes] = {}
    for topic in await _topics_ending(client_options, "deadletter-keys"):
        found |= readable(await live_keys(client_options, topic), datetime.now(UTC))
    return found


async def _topics_ending(client_options: dict[str, Any], suffix: str) -> list[str]:
    admin = AIOKafkaAdminClient(**client_options)
    await admin.start()
    try:
        return [t for t in await admin.list_topics() if t.endswith(suffix)]
    finally:
        await admin.close()
