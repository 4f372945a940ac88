"""Checks the topics before the worker starts, and creates the service's own.

The input topics belong to the producers: they may have any number of partitions, and their records
any partitioner. The service re-keys them into topics of its own (streams/worker/rekeying.py), and those, its
internal topic, its tables' changelogs and its audit trail share one partition count: an alarm's state,
its events, its holds and its audit chain live on the same partition number. That count is the setting
PARTITIONS; unset, it is what the service's topics already have, so an existing deployment keeps its
state where it is.
"""

from __future__ import annotations

import asyncio

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaConnectionError, KafkaError

from config.settings import Settings
from streams.kafka.security import client_options
from streams.kafka.topic_configs import creation_configs, needs, problems

log = structlog.get_logger(__name__)
DEFAULT_PARTITIONS = 8


class TopologyError(Exception):
    """The topics on the broker cannot work with this service; the message says what to change."""


def changelog_topics(settings: Settings) -> list[str]:
    tables = ("alarms", "contract-ends", "customers", "subject-keys")
    return [f"{settings.app_id}-{table}-changelog" for table in tables]


def partitioned_topics(settings: Settings) -> list[str]:
    """The service's topics that must all have its partition count (the changelogs included, which
    faust creates with it)."""
    names = settings.topics
    return [
        names.alarm_stream,
        names.customer_stream,
        names.internal,
        names.audit,
        *changelog_topics(settings),
    ]


def other_own_topics(settings: Settings) -> list[str]:
    """Topics the service creates when missing, whose partition count does not matter to it: outputs,
    and the inputs it offers to other systems (erasure confirmations, customer requests)."""
    names = settings.topics
    return [
        names.deadletter,
        names.deadletter_keys,
        names.access_log,
        names.audit_checkpoints,
        names.erasure_commands,
        names.request_outcomes,
        names.erasure_confirmations,
        names.customer_requests,
    ]


async def prepare_topics(settings: Settings, *, retry_forever: bool = True) -> int:
    """Return the service's partition count; create the service's own topics."""
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
    inputs = _inputs(settings)
    existing = set(await admin.list_topics())
    missing = [topic for topic in inputs if topic not in existing]
    if missing:
        raise TopologyError(
            f"input topic(s) {', '.join(missing)} do not exist on {settings.kafka_bootstrap_servers}: "
            "create them (any number of partitions)"
        )
    partitioned = partitioned_topics(settings)
    # Only describe topics that exist: a metadata request may create a missing topic as a side effect.
    counts = await _partition_counts(admin, [t for t in partitioned if t in existing])
    partitions = _partition_count(settings, counts)
    to_create = [t for t in [*partitioned, *other_own_topics(settings)] if t not in existing]
    to_create = [t for t in to_create if t not in changelog_topics(settings)]  # faust creates those
    await _check_configs(admin, settings, existing)
    if to_create:
        await admin.create_topics(
            [
                NewTopic(
                    topic,
                    partitions,
                    settings.kafka_replication_factor,
                    topic_configs=creation_configs(settings, topic),
                )
                for topic in to_create
            ]
        )
        log.info("topics.created", topics=to_create, partitions=partitions)
    return partitions


async def _check_configs(admin: AIOKafkaAdminClient, settings: Settings, existing: set[str]) -> None:
    """Refuse to run on a topic of ours whose configs would delete records the service needs."""
    wanted = {t: need for t, need in needs(settings, changelog_topics(settings)).items() if t in existing}
    inputs = [t for t in _inputs(settings) if t in existing]
    dead_letters = [t for t in [settings.topics.deadletter] if t in existing]
    # One DescribeConfigs request for every topic looked at below.
    described = await describe_topic_configs(admin, sorted({*wanted, *inputs, *dead_letters}))
    found = [p for topic, need in wanted.items() for p in problems(topic, need, described.get(topic, {}))]
    if found:
        how = "kafka-configs.sh --alter --entity-type topics --entity-name <topic> --add-config <k>=<v>"
        raise TopologyError("; ".join(str(p) for p in found) + f" (for example with {how})")
    _warn_about_short_inputs(settings, {t: described.get(t, {}) for t in inputs})
    _warn_about_long_dead_letters(settings, {t: described.get(t, {}) for t in dead_letters})
    unreported = [t for t in wanted if "retention.ms" not in described.get(t, {})]
    if unreported:  # Tansu reports only the configs a topic was created with, and deletes nothing
        log.info("topics.retention_unreported", topics=unreported)


def _inputs(settings: Settings) -> list[str]:
    names = settings.topics
    return [names.alarm_events, names.police_holds, names.contract_events]


def _warn_about_short_inputs(settings: Settings, described: dict[str, dict[str, str]]) -> None:
    """The input topics are the producers'; one that keeps records less than TRANSIT_RETENTION makes
    an outage that long lose events (a hold, a contract end) before the service reads them."""
    wanted = int(settings.transit_retention.total_seconds() * 1000)
    for topic, configs in described.items():
        kept = int(configs.get("retention.ms", -1))
        if kept != -1 and kept < wanted:
            log.warning(
                "topics.input_retention_short", topic=topic, retention_ms=kept, transit_retention_ms=wanted
            )


def _warn_about_long_dead_letters(settings: Settings, described: dict[str, dict[str, str]]) -> None:
    """Dead letters are producers' records as they were (personal data): kept longer than
    DEADLETTER_RETENTION they break the promise to delete. Said loudly; not a reason to stop deleting."""
    wanted = int(settings.deadletter_retention.total_seconds() * 1000)
    for topic, configs in described.items():
        kept = int(configs.get("retention.ms", -1))
        if "compact" in configs.get("cleanup.policy", "delete") or kept == -1 or kept > wanted:
            log.warning(
                "topics.deadletters_kept_too_long",
                topic=topic,
                retention_ms=kept,
                deadletter_retention_ms=wanted,
            )


async def describe_topic_configs(admin: AIOKafkaAdminClient, topics: list[str]) -> dict[str, dict[str, str]]:
    """Each topic's configs, as the broker reports them, in one request."""
    if not topics:
        return {}
    try:
        answers = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic) for topic in topics]
        )
    except KafkaError as exc:
        raise TopologyError(f"cannot describe the configs of {', '.join(topics)}: {exc}") from exc
    configs: dict[str, dict[str, str]] = {}
    for answer in answers:
        for error_code, error_message, _type, name, entries in answer.resources:
            if error_code:
                raise TopologyError(f"cannot describe the configs of {name}: {error_message}")
            configs[name] = {entry[0]: entry[1] for entry in entries if entry[1] is not None}
    return configs


def _partition_count(settings: Settings, counts: dict[str, int]) -> int:
    """The setting, or what the service's topics have; they must all agree."""
    found = sorted(set(counts.values()))
    if len(found) > 1:
        described = ", ".join(f"{t} has {n}" for t, n in sorted(counts.items()))
        raise TopologyError(
            f"the service's own topics must have one partition count, but {described}: the state is "
            "divided by it; recreate the odd ones with the count the others have"
        )
    if settings.partitions is None:
        return found[0] if found else DEFAULT_PARTITIONS
    if found and found[0] != settings.partitions:
        topic = next(iter(sorted(counts)))
        raise TopologyError(
            f"PARTITIONS is {settings.partitions} but the service's topics ({topic} and others) have "
            f"{found[0]}: its state is divided by that count; set PARTITIONS={found[0]} or leave it unset "
            "(changing the count of a deployment is not supported in place)"
        )
    return settings.partitions


async def _partition_counts(admin: AIOKafkaAdminClient, topics: list[str]) -> dict[str, int]:
    if not topics:
        return {}
    try:
        described = await admin.describe_topics(topics)
    except KafkaError as exc:
        raise TopologyError(f"cannot describe topics {', '.join(topics)}: {exc}") from exc
    return {entry["topic"]: len(entry["partitions"]) for entry in described}
