"""What the service's own topics must keep, and no more: the configs it creates them with, and the check
of the configs a topic already has.

Kafka deletes a topic's records after the broker's default `retention.ms` (7 days) unless the topic says
otherwise, and compaction keeps only the last record per key. Either would silently take records the
service still needs: the audit trail (the proof of every deletion, for years), the records in transit
between its stages (events re-keyed but not yet applied, deadlines, broadcasts), the state's
changelogs. So the service creates its topics with explicit configs from settings, and at start-up
refuses to run on a topic whose configs would delete what it needs, naming the topic, the config and
the value to set. Dead letters hold producers' records as they were (personal data): they are kept
long enough to be replayed, and no longer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from config.settings import Settings

KEEP_FOREVER = -1


@dataclass(frozen=True)
class TopicNeed:
    """How long the service needs a topic's records, and whether they may be compacted away by key."""

    why: str
    keep_for: timedelta | None  # None: as long as the topic exists (compacted state)
    compacted: bool = False
    setting: str = ""  # the setting that says how long, for the messages


def needs(settings: Settings, changelogs: list[str]) -> dict[str, TopicNeed]:
    names = settings.topics
    audit = TopicNeed("the audit trail", settings.audit_retention, setting="AUDIT_RETENTION")
    transit = TopicNeed(
        "records between the service's stages", settings.transit_retention, setting="TRANSIT_RETENTION"
    )
    state = TopicNeed("the state's changelog", None, compacted=True)
    return {
        names.audit: audit,
        names.audit_checkpoints: audit,
        **{
            topic: transit
            for topic in (
                names.alarm_stream,
                names.customer_stream,
                names.internal,
                names.erasure_commands,
                names.request_outcomes,
                names.erasure_confirmations,
                names.customer_requests,
            )
        },
        **dict.fromkeys(changelogs, state),
        names.deadletter_keys: TopicNeed("the dead letters' keys", None, compacted=True),
    }


def _replication(settings: Settings) -> dict[str, str]:
    """With replicas, a write is acknowledged once all but one have it, so that losing the leader
    loses no acknowledged hold."""
    replicas = settings.kafka_replication_factor
    return {"min.insync.replicas": str(max(1, replicas - 1))} if replicas > 1 else {}


# A changelog is compacted (faust creates it so), but Kafka compacts only closed segments, and keeps a
# tombstone a day by default: without these a quiet partition's superseded states (the customer, the
# object keys, the officers' names) could stay for as long as its segment stays open. With them, a
# state replaced by its marker, or a marker forgotten, is gone from the changelog within about two days
# (schedule rows S1-S4). Tansu, the local broker, compacts nothing.
CHANGELOG_COMPACTION = {
    "segment.ms": str(24 * 3600 * 1000),
    "max.compaction.lag.ms": str(24 * 3600 * 1000),
    "delete.retention.ms": str(24 * 3600 * 1000),
}


def changelog_configs(settings: Settings) -> dict[str, Any]:
    """What faust's tables are given for the changelogs it creates (compacted by faust itself)."""
    return {"extra_topic_configs": {**CHANGELOG_COMPACTION, **_replication(settings)}}


def creation_configs(settings: Settings, topic: str) -> dict[str, str]:
    """The configs a topic of the service's is created with."""
    names = settings.topics
    configs = _replication(settings)
    if topic == names.deadletter_keys:  # a key is its latest value; a tombstone destroys it
        return {**configs, "cleanup.policy": "compact", **CHANGELOG_COMPACTION}
    if topic == names.deadletter:
        keep: timedelta | None = settings.deadletter_retention
    elif topic == names.access_log:
        keep = settings.access_log_kept
    elif topic in (names.audit, names.audit_checkpoints):
        keep = settings.audit_retention
    else:
        keep = settings.transit_retention
    return {
        **configs,
        "cleanup.policy": "delete",
        "retention.ms": str(_ms(keep)),
        "retention.bytes": str(KEEP_FOREVER),
    }


@dataclass(frozen=True)
class ConfigProblem:
    topic: str
    config: str
    found: str
    fix: str

    def __str__(self) -> str:
        return f"topic {self.topic}: {self.config}={self.found} {self.fix}"


def problems(topic: str, need: TopicNeed, configs: Mapping[str, str]) -> list[ConfigProblem]:
    """What in `configs` (as the broker describes the topic; a config it does not report is taken as
    not deleting anything, which is what Tansu does) would delete records the service needs."""
    found: list[ConfigProblem] = []
    policy = configs.get("cleanup.policy", "delete" if not need.compacted else "compact")
    retention = int(configs.get("retention.ms", KEEP_FOREVER))
    size_limit = int(configs.get("retention.bytes", KEEP_FOREVER))
    if need.compacted:
        # Compaction alone keeps every key's latest state; any deletion on top of it loses state.
        if "delete" in policy and retention != KEEP_FOREVER:
            found.append(
                ConfigProblem(
                    topic, "retention.ms", str(retention),
                    f"deletes {need.why} after {_human(retention)}; set cleanup.policy=compact",
                )
            )  # fmt: skip
        if "delete" in policy and size_limit != KEEP_FOREVER:
            found.append(
                ConfigProblem(
                    topic, "retention.bytes", str(size_limit),
                    f"deletes {need.why} once the partition is that large; set cleanup.policy=compact",
                )
            )  # fmt: skip
        return found
    if "compact" in policy:
        found.append(
            ConfigProblem(
                topic, "cleanup.policy", policy,
                f"keeps only the last record per key of {need.why}; set cleanup.policy=delete",
            )
        )  # fmt: skip
    wanted = _ms(need.keep_for)
    if retention != KEEP_FOREVER and (wanted == KEEP_FOREVER or retention < wanted):
        found.append(
            ConfigProblem(
                topic, "retention.ms", str(retention),
                f"deletes {need.why} after {_human(retention)}, but {need.setting} keeps them "
                f"{_human(wanted)}; set retention.ms={wanted}",
            )
        )  # fmt: skip
    if size_limit != KEEP_FOREVER:
        found.append(
            ConfigProblem(
                topic, "retention.bytes", str(size_limit),
                f"deletes {need.why} once the partition is that large; set retention.bytes=-1",
            )
        )  # fmt: skip
    return found


def _ms(duration: timedelta | None) -> int:
    return KEEP_FOREVER if duration is None else int(duration.total_seconds() * 1000)


def _human(ms: int) -> str:
    if ms == KEEP_FOREVER:
        return "forever"
    seconds = ms // 1000
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"
