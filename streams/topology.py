"""Checks the topics before the worker starts, and creates the service's own.

An alarm and its holds meet only if they land on the same partition number, so the input topics must
agree on their partition count, and the service's internal topics and tables take that count too.
"""

from __future__ import annotations

import asyncio

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError

from config.settings import Settings
from streams.kafka_security import client_options

log = structlog.get_logger(__name__)


class TopologyError(Exception):
    """The topics on the broker cannot work with this service; the message says what to change."""


def changelog_topics(settings: Settings) -> list[str]:
    return [f"{settings.app_id}-{table}-changelog" for table in ("alarms", "contract-ends", "customers")]


async def prepare_topics(settings: Settings, *, retry_forever: bool = True) -> int:
    """Return the partition count every keyed topic shares; create the service's own topics."""
    admin = await _connect(settings, retry_forever)
    try:
        return await _prepare(admin, settings)
    finally:
        await admin.close()


async def _connect(settings: Settings, retry_forever: bool) -> AIOKafkaAdminClient:
    delay = 1.0
    while True:
        admin = AIOKafkaAdminClient(**client_options(settings))
        try:
            await admin.start()
            return admin
        except KafkaConnectionError as exc:
            await admin.close()
            if not retry_forever:
                raise TopologyError(
                    f"KAFKA_BOOTSTRAP_SERVERS: cannot reach {settings.kafka_bootstrap_servers}"
                ) from exc
            log.warning(
                "broker.unreachable",
                bootstrap_servers=settings.kafka_bootstrap_servers,
                retry_in_seconds=delay,
            )
            await asyncio.sleep(delay)
            delay = min(30.0, delay * 2)


async def _prepare(admin: AIOKafkaAdminClient, settings: Settings) -> int:
    names = settings.topics
    inputs = [names.alarm_events, names.police_holds, names.contract_events]
    existing = set(await admin.list_topics())
    missing = [topic for topic in inputs if topic not in existing]
    if missing:
        raise TopologyError(
            f"input topic(s) {', '.join(missing)} do not exist on {settings.kafka_bootstrap_servers}: "
            "create them, all with the same number of partitions"
        )
    # Only describe topics that exist: a metadata request may create a missing topic as a side effect.
    counts = await _partition_counts(admin, inputs)
    if len(set(counts.values())) != 1:
        described = ", ".join(f"{t} has {n}" for t, n in counts.items())
        raise TopologyError(f"input topics must have the same number of partitions ({described})")
    partitions = counts[names.alarm_events]

    own = [
        names.internal,
        names.audit,
        names.deadletter,
        names.erasure_commands,
        names.erasure_confirmations,
        names.customer_requests,
        names.request_outcomes,
        *changelog_topics(settings),
    ]
    present = [topic for topic in own if topic in existing]
    for topic, count in (await _partition_counts(admin, present)).items():
        if count != partitions:
            raise TopologyError(
                f"topic {topic} has {count} partitions but the input topics have {partitions}: "
                "they must match; delete it or give the inputs the same count"
            )
    # faust creates its changelog topics itself, with the app's partition count.
    to_create = [topic for topic in own if topic not in existing and topic not in changelog_topics(settings)]
    if to_create:
        await admin.create_topics(
            [NewTopic(topic, partitions, settings.kafka_replication_factor) for topic in to_create]
        )
        log.info("topics.created", topics=to_create, partitions=partitions)
    return partitions


async def _partition_counts(admin: AIOKafkaAdminClient, topics: list[str]) -> dict[str, int]:
    if not topics:
        return {}
    try:
        described = await admin.describe_topics(topics)
    except KafkaError as exc:
        raise TopologyError(f"cannot describe topics {', '.join(topics)}: {exc}") from exc
    return {entry["topic"]: len(entry["partitions"]) for entry in described}
