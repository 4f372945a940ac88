"""`retention audit verify`: read the audit topic, its checkpoints and its retention from Kafka, and check
every partition (handlers/audit_chain.py says what is checked)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient

from handlers.audit_chain import Checkpoint, PartitionCheck, check_partition
from streams.audit.checkpoints import read_checkpoints
from streams.kafka.topic_ends import read_topic_to_ends
from streams.kafka.topology import describe_topic_configs


@dataclass(frozen=True)
class Verdict:
    topic: str
    retention: timedelta | None  # None: the topic keeps its records forever
    checkpoints: int
    partitions: list[PartitionCheck]
    anchored: int = 0  # of the checkpoints, those read from the Object Lock bucket

    @property
    def records(self) -> int:
        return sum(p.records for p in self.partitions)

    @property
    def removed_by_retention(self) -> int:
        return sum(p.removed_by_retention for p in self.partitions)

    @property
    def intact(self) -> bool:
        return all(p.problem is None for p in self.partitions)


async def verify_audit_topic(
    client_options: dict[str, Any],
    topic: str,
    checkpoint_topic: str,
    now: datetime | None = None,
    keys: Mapping[str, bytes] | None = None,
    anchored: Sequence[Checkpoint] = (),
    legacy_unkeyed: bool = False,
) -> Verdict:
    """`keys`: the chain keys (id -> secret); `anchored`: the checkpoints of the anchor bucket
    (streams/audit/anchor.py), which nobody could have removed. Raises UnknownTopic when there is no
    audit topic."""
    found, ends = await read_topic_to_ends(client_options, topic)
    checkpoints = [*await read_checkpoints(client_options, checkpoint_topic), *anchored]
    retention = await topic_retention(client_options, topic)
    removable_before = (now or datetime.now(UTC)) - retention if retention is not None else None
    by_partition: dict[int, list[tuple[int, bytes]]] = {p: [] for p in ends}
    for record in found:
        by_partition[record.partition].append((record.offset, record.value))
    # A checkpoint of a partition the topic does not have (any more) is a removal too.
    for partition in {c.partition for c in checkpoints} - set(ends):
        ends[partition] = 0
        by_partition[partition] = []
    checks = [
        check_partition(p, by_partition[p], ends[p], checkpoints, removable_before, keys, legacy_unkeyed)
        for p in sorted(ends)
    ]
    return Verdict(topic, retention, len(checkpoints), checks, anchored=len(anchored))


async def topic_retention(client_options: dict[str, Any], topic: str) -> timedelta | None:
    """How long the topic keeps records: its retention.ms (the broker's default when the topic sets
    none); None for forever."""
    admin = AIOKafkaAdminClient(**client_options)
    await admin.start()
    try:
        configs = (await describe_topic_configs(admin, [topic])).get(topic, {})
    finally:
        await admin.close()
    if "retention.ms" in configs:
        ms = int(configs["retention.ms"])
        return None if ms < 0 else timedelta(milliseconds=ms)
    # Kafka always says. A broker that does not is taken to keep everything: a removed record is then
    # reported rather than excused.
    return None
