"""The projector's loop: read every partition of its topics from where the archive says it stopped,
turn each record into its row, write each batch with its positions in one transaction.

A consumer outside any group with its own positions (in PostgreSQL, not in Kafka): a crash between
the write and anything else loses nothing and repeats nothing. How far behind it is (the lag) is
measured against the high watermark of its own fetches, never against ListOffsets (which Tansu answers
short of the end, see streams/kafka/topic_ends.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import OffsetOutOfRangeError

from streams.kafka.topic_ends import assign_every_partition, at_end
from streams.postgres.archive_writer import ArchiveWriter
from streams.projector.rows import (
    AccessRow,
    AnswerRow,
    AuditRow,
    CustomerRow,
    DeadLetterRow,
    Kept,
    KeyRow,
    Record,
    Removed,
    Row,
    Skipped,
    Source,
    StateRow,
    row_of,
)

log = structlog.get_logger(__name__)
# What the database says about a value it will not store (SQLSTATE classes 22 and 23): the record's
# fault, not the database's; anything else is the database's, and the batch is tried again.
REFUSED = (psycopg.errors.DataError, psycopg.errors.IntegrityError)
BATCH_RECORDS = 5000
STATUS_SECONDS = 2.0  # how often the lag is written to the archive for the dashboard
RETRY_SECONDS = 2.0


@dataclass
class Progress:
    """What the projector has done, for /metrics and /health."""

    read: int = 0  # records read from the topics since it started
    written: dict[str, int] = field(default_factory=dict)  # rows written by table
    skipped: dict[str, int] = field(default_factory=dict)  # unreadable records by source
    lost: dict[str, int] = field(default_factory=dict)  # records retention removed before they were read
    forgotten: dict[str, int] = field(default_factory=dict)  # rows removed at their forget_at
    lag: dict[tuple[str, int], int] = field(default_factory=dict)  # records behind, by topic partition
    caught_up: bool = False  # reached the end of every partition once since it started
    problem: str | None = None  # why it is not writing, while it is not

    def count(self, into: dict[str, int], amounts: Mapping[str, int]) -> None:
        for name, amount in amounts.items():
            into[name] = into.get(name, 0) + amount


class ProjectorFeed:
    def __init__(
        self,
        connect: Callable[[], AbstractAsyncContextManager[ArchiveWriter]],
        client_options: dict[str, Any],
        topics: Mapping[str, Source],
        kept: Kept,
        progress: Progress,
    ) -> None:
        self._connect = connect
        self._client_options = client_options
        self._topics = dict(topics)
        self._kept = kept
        self.progress = progress

    async def run(self) -> None:
        while True:
            try:
                await self._project()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker or the database went away: resume from the archive
                self.progress.problem = _problem(exc)
                log.warning("projector.restarting", reason=self.progress.problem)
                await asyncio.sleep(RETRY_SECONDS)

    async def _project(self) -> None:
        async with self._connect() as writer:
            consumer = AIOKafkaConsumer(
                enable_auto_commit=False,
                auto_offset_reset="none",  # a position the topic no longer has: see _out_of_range
                **self._client_options,
            )
            await consumer.start()
            try:
                tps = await assign_every_partition(consumer, self._topics)
                await self._seek_to_archive(consumer, writer, tps)
                self.progress.problem = None
                reported = 0.0
                self.progress.lag.clear()
                while True:
                    try:
                        batches = await consumer.getmany(timeout_ms=500, max_records=BATCH_RECORDS)
                    except OffsetOutOfRangeError as exc:
                        await self._out_of_range(consumer, writer, exc.args[0])
                        continue
                    if batches:
                        await self._write(writer, batches)
                    await self._measure_lag(consumer, writer, tps)
                    # Only once every partition has answered a fetch: before that the lag is not known.
                    measured = len(self.progress.lag) == len(tps)
                    if measured and time.monotonic() - reported >= STATUS_SECONDS:
                        lag = sum(self.progress.lag.values())
                        await writer.record_status(lag, self.progress.caught_up, datetime.now(UTC))
                        reported = time.monotonic()
            finally:
                await consumer.stop()

    async def _seek_to_archive(
        self, consumer: AIOKafkaConsumer, writer: ArchiveWriter, tps: list[TopicPartition]
    ) -> None:
        positions = await writer.positions()
        fresh = [tp for tp in tps if (tp.topic, tp.partition) not in positions]
        if fresh:
            await consumer.seek_to_beginning(*fresh)
        for tp in tps:
            if (tp.topic, tp.partition) in positions:
                consumer.seek(tp, positions[(tp.topic, tp.partition)])
        log.info("projector.resuming", partitions=len(tps), with_nothing_archived_yet=len(fresh))

    async def _out_of_range(
        self, consumer: AIOKafkaConsumer, writer: ArchiveWriter, positions: Mapping[TopicPartition, int]
    ) -> None:
        """The archive's position is one the topic no longer has. Before its oldest record: records were
        removed by retention before they were archived (counted and logged: the archive lacks them).
        Past its end: the topic was made anew (a rebuilt cluster); a changelog partition's states are
        dropped and read again from its beginning, as their offsets no longer compare."""
        for tp, position in positions.items():
            # ListOffsets for the earliest offset (the end is what Tansu answers short, not the start).
            earliest = (await consumer.beginning_offsets([tp]))[tp]
            where = {"topic": tp.topic, "partition": tp.partition, "position": position, "earliest": earliest}
            if position < earliest:
                log.error("projector.records_expired_unarchived", lost=earliest - position, **where)
                self.progress.count(self.progress.lost, {tp.topic: earliest - position})
            else:
                log.error("projector.topic_made_anew", **where)
                await writer.forget_partition(self._topics[tp.topic], tp.partition)
            consumer.seek(tp, earliest)

    async def _write(self, writer: ArchiveWriter, batches: Mapping[TopicPartition, list[Any]]) -> None:
        rows: list[Row] = []
        positions: dict[tuple[str, int], int] = {}
        skipped: dict[str, int] = {}
        for tp, records in batches.items():
            source = self._topics[tp.topic]
            for message in records:
                record = Record(source, tp.partition, message.offset, message.key, message.value)
                row = row_of(record, self._kept)
                if isinstance(row, Skipped):
                    log.warning(
                        "projector.record_skipped",
                        topic=tp.topic,
                        partition=tp.partition,
                        offset=message.offset,
                        reason=row.reason,
                    )
                    skipped[source.value] = skipped.get(source.value, 0) + 1
                else:
                    rows.append(row)
            positions[(tp.topic, tp.partition)] = records[-1].offset + 1
        try:
            written = await writer.write(rows, positions)
        except REFUSED as exc:
            log.warning("projector.batch_refused", problem=_problem(exc), rows=len(rows))
            written = await self._write_one_by_one(writer, rows, positions, skipped)
        self.progress.read += sum(len(records) for records in batches.values())
        self.progress.count(self.progress.written, written)
        self.progress.count(self.progress.skipped, skipped)

    async def _write_one_by_one(
        self,
        writer: ArchiveWriter,
        rows: list[Row],
        positions: dict[tuple[str, int], int],
        skipped: dict[str, int],
    ) -> dict[str, int]:
        """A batch the database refused (a value it cannot store, say a NUL character in a text): each row
        on its own, so that one bad record is skipped (logged and counted) and never stops the archive.
        Rows are idempotent, so a crash in between only writes some again; the positions come last."""
        written: dict[str, int] = {}
        for row in rows:
            try:
                self.progress.count(written, await writer.write([row], {}))
            except REFUSED as exc:
                source = _source_of(row)
                log.warning("projector.row_refused", source=source, problem=_problem(exc), **_where(row))
                skipped[source] = skipped.get(source, 0) + 1
        self.progress.count(written, await writer.write([], positions))
        return written

    async def _measure_lag(
        self, consumer: AIOKafkaConsumer, writer: ArchiveWriter, tps: list[TopicPartition]
    ) -> None:
        beyond: dict[TopicPartition, int] = {}
        for tp in tps:
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue
            position = await consumer.position(tp)
            if position > highwater:  # Apache Kafka says OFFSET_OUT_OF_RANGE; Tansu answers empty
                beyond[tp] = position
            self.progress.lag[(tp.topic, tp.partition)] = max(0, highwater - position)
        if beyond:
            await self._out_of_range(consumer, writer, beyond)
            return
        if not self.progress.caught_up and await at_end(consumer, tps):
            self.progress.caught_up = True
            log.info("projector.caught_up", at=datetime.now(UTC).isoformat())


def _problem(exc: Exception) -> str:
    """What went wrong, without the values: the database's messages quote the rows they refuse (personal
    data), and this goes to the log and to /health."""
    if isinstance(exc, psycopg.Error):
        return f"{type(exc).__name__} (SQLSTATE {exc.sqlstate})"
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def _source_of(row: Row) -> str:
    if isinstance(row, Removed):
        return row.source.value
    return {
        AuditRow: Source.AUDIT,
        StateRow: Source.ALARM_STATES,
        CustomerRow: Source.CUSTOMER_RECORDS,
        AnswerRow: Source.ANSWERS,
        DeadLetterRow: Source.DEADLETTER,
        KeyRow: Source.SUBJECT_KEYS,
        AccessRow: Source.ACCESS_LOG,
    }[type(row)].value


def _where(row: Row) -> dict[str, int]:
    return {name: getattr(row, name) for name in ("partition", "offset") if hasattr(row, name)}
