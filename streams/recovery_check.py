"""After faust recovered the tables: know that each holds its changelog to the end, or say why not.

faust declares recovery done when its own count reaches the end it was told; a broker that misreports
the end (Tansu's ListOffsets, see streams/topic_ends.py) or a record written after recovery began
would leave a table short, and a table short of an accepted hold deletes held evidence. So before the
worker processes anything, each active changelog partition's last applied offset is compared with the
end a fresh Fetch reports. A partition found short is read to its end and applied here. While the
check cannot tell (the broker does not answer), the worker stays not ready and says why; faust does not
resume the streams until this returns, so nothing is decided on an incomplete state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import structlog
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from streams.topic_ends import high_watermarks, read_to_end, started

log = structlog.get_logger(__name__)
RETRY_SECONDS = (1.0, 2.0, 5.0, 10.0)
ANSWER_WITHIN_SECONDS = 30.0  # for the broker to answer the fetches of one check or one catch-up


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
    message: Any  # the aiokafka record: .value and .partition


class RecoveryCheck:
    def __init__(self, app: Any, client_options: dict[str, Any]) -> None:
        self._app = app
        self._client_options = client_options
        self.problem: str | None = "tables not recovered yet"

    async def verify(self, superseded: Callable[[], bool]) -> bool:
        """True once every active changelog partition is complete; False if a new rebalance began
        first (that one's recovery will be checked in its turn)."""
        self.problem = "tables being checked against their changelogs"
        attempt = 0
        caught_up: dict[tuple[str, int], int] = {}  # what this check applied itself, past faust's count
        while not superseded():
            try:
                async with asyncio.timeout(ANSWER_WITHIN_SECONDS):
                    gaps = await self.gaps(caught_up)
            except (KafkaError, TimeoutError, OSError) as exc:
                self._unsure(f"cannot tell whether the tables hold their changelogs to the end: {exc}")
                await asyncio.sleep(RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)])
                attempt += 1
                continue
            if not gaps:
                self.problem = None
                log.info("recovery.verified", changelog_partitions=len(self._recovery.active_tps))
                return True
            self._unsure("tables recovered short of their changelogs: " + "; ".join(map(str, gaps)))
            try:
                async with asyncio.timeout(ANSWER_WITHIN_SECONDS):
                    caught_up.update(await self.catch_up(gaps))
            except (KafkaError, TimeoutError, OSError) as exc:
                self._unsure(f"could not read the rest of the changelogs: {exc}")
                await asyncio.sleep(RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)])
                attempt += 1
        self.problem = "a new rebalance began before the tables were checked"
        return False

    async def gaps(self, caught_up: dict[tuple[str, int], int] | None = None) -> list[Gap]:
        """Asked of the broker by a consumer of our own, not through faust's recovery path, so that
        this is a second opinion on it. `caught_up`: the last offset applied by catch_up, by partition
        (faust's own count is left alone: its next recovery starts from it and reads to the end)."""
        recovery = self._recovery
        tps = sorted(recovery.active_tps)
        if not tps:
            return []
        async with started(self._client_options) as consumer:
            ends = await high_watermarks(consumer, [TopicPartition(tp.topic, tp.partition) for tp in tps])
        found = []
        for tp in tps:
            counted = recovery.active_offsets.get(tp)
            applied = max(
                -1 if counted is None else counted, (caught_up or {}).get((tp.topic, tp.partition), -1)
            )
            end = ends[TopicPartition(tp.topic, tp.partition)]
            if applied < end - 1:
                found.append(Gap(tp.topic, tp.partition, applied, end))
        return found

    async def catch_up(self, gaps: Collection[Gap]) -> dict[tuple[str, int], int]:
        """Read each short partition from after its last applied record to the end, into its table;
        returns the last offset applied, by partition."""
        recovery = self._recovery
        tables = {(tp.topic, tp.partition): table for tp, table in recovery.tp_to_table.items()}
        async with started(self._client_options) as consumer:
            tps = [TopicPartition(gap.topic, gap.partition) for gap in gaps]
            consumer.assign(tps)
            for gap in gaps:
                consumer.seek(TopicPartition(gap.topic, gap.partition), gap.applied + 1)
            applied: dict[tuple[str, int], int] = {}
            records_applied = 0
            async for batches in read_to_end(consumer, tps):
                for tp, records in batches.items():
                    table = tables[(tp.topic, tp.partition)]
                    table.apply_changelog_batch([_ChangelogEvent(r.key, r.value, r) for r in records])
                    applied[(tp.topic, tp.partition)] = records[-1].offset
                    records_applied += len(records)
            log.warning("recovery.caught_up", records=records_applied, partitions=[str(g) for g in gaps])
            return applied

    @property
    def _recovery(self) -> Any:
        return self._app.tables.recovery

    def _unsure(self, problem: str) -> None:
        self.problem = problem
        log.error("recovery.unverified", problem=problem)
