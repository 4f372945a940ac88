"""The topics the service creates on a real broker carry the configs that keep what it needs."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from config.settings import load_settings
from streams.kafka.topology import prepare_topics
from streams.local.stack import LocalStack, input_topics_of, isolated_topics

pytestmark = pytest.mark.integration


async def test_the_service_creates_its_topics_with_their_retention(stack: LocalStack) -> None:
    topics = isolated_topics(f"configs-{uuid.uuid4().hex[:6]}")
    await asyncio.to_thread(stack.create_topics, input_topics_of(topics), 2)
    settings = load_settings(
        kafka_bootstrap_servers=stack.kafka_bootstrap,
        media_buckets="media",
        topics={k.removeprefix("TOPICS__").lower(): v for k, v in topics.items()},
        audit_retention="P3000D",
    )
    await prepare_topics(settings, retry_forever=False)

    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    await admin.start()
    try:
        names = settings.topics
        wanted = [names.audit, names.deadletter, names.alarm_stream]
        answers = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t) for t in wanted])
    finally:
        await admin.close()
    described = {
        name: {entry[0]: entry[1] for entry in entries}
        for answer in answers
        for _code, _message, _type, name, entries in answer.resources
    }
    day = 24 * 3600 * 1000
    assert described[names.audit]["retention.ms"] == str(3000 * day)
    assert described[names.audit]["cleanup.policy"] == "delete"
    assert described[names.deadletter]["retention.ms"] == str(30 * day)
    assert described[names.alarm_stream]["retention.ms"] == str(14 * day)
