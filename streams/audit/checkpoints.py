"""Checkpoints of the audit chain (see handlers/audit_chain.py): at intervals, and when partitions are
given away, the head of each chain this worker wrote (offset and hash of its last acknowledged record)
goes to a topic of its own. `retention audit verify` reads them to tell records removed by retention
from records removed or rewritten by someone; a worker that resumes a chain whose last record is gone
continues from the checkpoint of that record.

Checkpoints hold no personal data (partition, offset, hash, time) and are kept as long as the audit
trail (AUDIT_RETENTION): a checkpoint is needed only while the records it describes could still be.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from datetime import timedelta
from typing import Any

import structlog
from aiokafka import TopicPartition

from handlers.audit_chain import Checkpoint
from streams.audit.anchor import AuditAnchor
from streams.clock import Clock
from streams.kafka.topic_ends import UnknownTopic, read_topic

log = structlog.get_logger(__name__)


class AuditCheckpoints:
    def __init__(
        self, topic: Any, clock: Clock, interval: timedelta, anchor: AuditAnchor | None = None
    ) -> None:
        """`anchor`: where each checkpoint also goes, for good (streams/audit/anchor.py)."""
        self._topic = topic  # a faust topic (or a test's stand-in) with send_soon
        self._clock = clock
        self._interval = interval
        self.anchor = anchor
        self._heads: dict[int, tuple[int, str]] = {}  # partition -> offset, hash of its last acked record
        self._written: dict[int, int] = {}  # partition -> offset of the last checkpoint written

    def acknowledged(self, partition: int, offset: int, hash_: str) -> None:
        head = self._heads.get(partition)
        if head is None or offset > head[0]:
            self._heads[partition] = (offset, hash_)

    def write(self, partitions: Collection[int] | None = None) -> int:
        """Checkpoint the heads that moved since their last checkpoint (of `partitions`, or all)."""
        written = 0
        for partition, (offset, hash_) in sorted(self._heads.items()):
            if partitions is not None and partition not in partitions:
                continue
            if self._written.get(partition) == offset:
                continue
            checkpoint = Checkpoint(partition, offset, hash_, self._clock.now())
            self._topic.send_soon(key=str(partition).encode("ascii"), value=checkpoint.to_json())
            if self.anchor is not None:
                self.anchor.add([checkpoint])
            self._written[partition] = offset
            written += 1
        return written

    def forget(self, partitions: Collection[int]) -> None:
        """Partitions given away, after their last checkpoint: the next owner writes their heads."""
        for partition in partitions:
            self._heads.pop(partition, None)
            self._written.pop(partition, None)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval.total_seconds())
            self.write()
            await self.flush_anchor()

    async def flush_anchor(self) -> None:
        if self.anchor is not None:
            await self.anchor.flush()


async def read_checkpoints(client_options: dict[str, Any], topic: str) -> list[Checkpoint]:
    """Every checkpoint in the topic; none when there is no such topic. A record that is not a
    checkpoint is reported and skipped (it proves nothing)."""
    try:
        found = await read_topic(client_options, topic)
    except UnknownTopic:
        return []
    checkpoints = []
    for record in found:
        try:
            checkpoints.append(Checkpoint.from_json(record.value))
        except ValueError as exc:
            log.warning(
                "audit_checkpoint.invalid", partition=record.partition, offset=record.offset, error=str(exc)
            )
    return checkpoints


def checkpoint_of(checkpoints: list[Checkpoint], tp: TopicPartition, offset: int) -> Checkpoint | None:
    return next((c for c in checkpoints if c.partition == tp.partition and c.offset == offset), None)
