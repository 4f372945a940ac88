"""After faust recovered the tables: know that each holds its changelog to the end, or say why not.

faust declares recovery done when its own count reaches the end it was told; a broker that misreports
the end (Tansu's ListOffsets, see streams/kafka/topic_ends.py) or a record written after recovery began
would leave a table short, and a table short of an accepted hold deletes held evidence. So before the
worker processes anything, each active changelog partition's last applied offset is compared with the
end a fresh Fetch reports. A partition found short is read to its end and applied here. While the
check cannot tell (the broker does not answer), the worker stays not ready and says why; faust does not
resume the streams until the recovery callback returns, so nothing is decided on an incomplete state.

faust does not cancel a recovery callback when a new rebalance begins, so a check that finds itself
superseded stops at the next step and leaves the status to the newer one.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import structlog
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError
from faust.types import TP

from streams.kafka.topic_ends import high_watermarks, read_to_end, started

log = structlog.get_logger(__name__)
RETRY_SECONDS = (1.0, 2.0, 5.0, 10.0)
ANSWER_WITHIN_SECONDS = 30.0  # for the broker to answer the fetches of one step
TRANSIENT = (KafkaError, TimeoutError, OSError)  # the broker away or slow: try again
T = TypeVar("T")


class Superseded(Exception):
    """A new rebalance began: this recovery's check is moot."""


class AheadOfChangelog(Exception):
    """The table on disk (TABLE_STORE=rocksdb) says it applied records the changelog does not have: it
    was built from another changelog (topics recreated, a broker that lost its data, another
    deployment's STATE_DIR). Trusting it could bring back holds released since, or forget ones placed;
    the worker stays not ready until an operator removes STATE_DIR (the changelog is then read in full)."""


@dataclass(frozen=True)
class Gap:
    """A changelog partition whose table has applied records up to `applied` of `end`."""

    topic: str
    partition: int
    applied: int  # the offset of the last record applied, -1 for none
    end: int  # the offset the next record will get

    def __str__(self) -> str:
        return f"{self.topic}/{self.partition} applied to {self.applied} of {self.end - 1}"


@dataclass(frozen=True)
class _ChangelogEvent:
    """What faust's store needs of a changelog event. Our tables map bytes to bytes, so the record's
    key and value are the table's key and value as they are."""

    key: bytes
    value: bytes | None
    message: _ChangelogMessage


@dataclass(frozen=True)
class _ChangelogMessage:
    """What the RocksDB store reads of the record (the memory store reads only the event's key and
    value): where it came from, to write it to that partition's database and remember the offset."""

    tp: TP
    partition: int
    offset: int
    key: bytes
    value: bytes | None

    @classmethod
    def of(cls, record: Any) -> _ChangelogMessage:
        return cls(
            TP(record.topic, record.partition), record.partition, record.offset, record.key, record.value
        )


class RecoveryCheck:
    def __init__(self, app: Any, client_options: dict[str, Any]) -> None:
        self._app = app
        self._client_options = client_options
        self._current = 0  # which check may speak: the latest one started
        self.problem: str | None = "tables not recovered yet"

    async def verify(self, superseded: Callable[[], bool]) -> bool:
        """True once every active changelog partition is complete; False if a new rebalance began
        first (that one's recovery will be checked in its turn)."""
        self._current += 1
        mine = self._current

        def moot() -> bool:
            return mine != self._current or superseded()

        self.problem = "tables being checked against their changelogs"
        caught_up: dict[tuple[str, int], int] = {}  # what this check applied itself, past faust's count
        unsure = "cannot tell whether the tables hold their changelogs to the end"
        try:
            while gaps := await self.step(mine, moot, unsure, partial(self.gaps, caught_up)):
                self._say(mine, "tables recovered short of their changelogs: " + "; ".join(map(str, gaps)))
                reading = partial(self.catch_up, gaps, caught_up, moot)
                await self.step(mine, moot, "could not read the rest of the changelogs", reading)
        except Superseded:
            return False
        self._say(mine, None)
        log.info("recovery.verified", changelog_partitions=len(self._recovery.active_tps))
        return True

    async def retried(
        self, unsure: str, attempt: Callable[[], Awaitable[object]], superseded: Callable[[], bool]
    ) -> bool:
        """Another step after the check (reading the audit chains' tails, say), tried again while the
        broker fails, the worker not ready meanwhile; False if a new rebalance began first."""
        mine = self._current

        def moot() -> bool:
            return mine != self._current or superseded()

        try:
            await self.step(mine, moot, unsure, attempt)
        except Superseded:
            return False
        self._say(mine, None)
        return True

    async def step(
        self, mine: int, moot: Callable[[], bool], unsure: str, attempt: Callable[[], Awaitable[T]]
    ) -> T:
        """One step of the check, tried again while the broker fails; the problem said meanwhile."""
        for tries in itertools.count():
            if moot():
                raise Superseded
            try:
                async with asyncio.timeout(ANSWER_WITHIN_SECONDS):
                    return await attempt()
            except AheadOfChangelog as exc:
                self._say(mine, str(exc))
                await asyncio.sleep(RETRY_SECONDS[-1])
            except TRANSIENT as exc:
                self._say(mine, f"{unsure}: {type(exc).__name__}: {exc}")
                await asyncio.sleep(RETRY_SECONDS[min(tries, len(RETRY_SECONDS) - 1)])
        raise AssertionError("itertools.count() ended")

    async def gaps(self, caught_up: dict[tuple[str, int], int] | None = None) -> list[Gap]:
        """Asked of the broker by a consumer of our own, not through faust's recovery path, so that
        this is a second opinion on it. `caught_up`: the last offset applied by catch_up, by partition
        (faust's own count is left alone: its next recovery starts from it and reads to the end)."""
        recovery = self._recovery
        # Records faust received after its last flush are counted but wait in its buffers: apply them.
        recovery.flush_buffers()
        tps = sorted(recovery.active_tps)
        if not tps:
            return []
        async with started(self._client_options) as consumer:
            ends = await high_watermarks(consumer, [TopicPartition(*tp) for tp in tps])
        found = []
        for tp in tps:
            counted = recovery.active_offsets.get(tp)
            applied = max(-1 if counted is None else counted, (caught_up or {}).get(tuple(tp), -1))
            end = ends[TopicPartition(*tp)]
            if applied > end - 1:
                raise AheadOfChangelog(
                    f"the table on disk has {tp.topic}/{tp.partition} up to offset {applied}, but the "
                    f"changelog ends at {end - 1}: it was built from another changelog; stop the worker "
                    "and remove its STATE_DIR"
                )
            if applied < end - 1:
                found.append(Gap(tp.topic, tp.partition, applied, end))
        return found

    async def catch_up(
        self,
        gaps: Collection[Gap],
        caught_up: dict[tuple[str, int], int],
        moot: Callable[[], bool] = lambda: False,
    ) -> None:
        """Read each short partition from after its last applied record to the end, into its table;
        `caught_up` learns the last offset applied, by partition, batch by batch."""
        tables = {tuple(tp): table for tp, table in self._recovery.tp_to_table.items()}
        applied = 0
        async with started(self._client_options) as consumer:
            tps = [TopicPartition(gap.topic, gap.partition) for gap in gaps]
            consumer.assign(tps)
            for gap in gaps:
                consumer.seek(TopicPartition(gap.topic, gap.partition), gap.applied + 1)
            async for batches in read_to_end(consumer, tps):
                if moot():
                    raise Superseded
                for tp, records in batches.items():
                    tables[tuple(tp)].apply_changelog_batch(
                        [_ChangelogEvent(r.key, r.value, _ChangelogMessage.of(r)) for r in records]
                    )
                    caught_up[tuple(tp)] = records[-1].offset
                    applied += len(records)
        log.warning("recovery.caught_up", records=applied, partitions=[str(g) for g in gaps])

    @property
    def _recovery(self) -> Any:
        return self._app.tables.recovery

    def _say(self, check: int, problem: str | None) -> None:
        if check != self._current:
            return  # a newer check speaks for the worker now
        if problem is not None and problem != self.problem:
            log.error("recovery.unverified", problem=problem)
        self.problem = problem
