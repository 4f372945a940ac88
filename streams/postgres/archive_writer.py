"""Writing the archive: one transaction per batch of records, with the positions they were read up to.

The rows and the position move together, so a crash anywhere leaves the archive at the end of a batch,
and the projector resumes from the position it finds. Each write is idempotent as well (audit records
by `audit_id`, states by key and offset), so a batch read twice (say, two projectors by mistake) leaves
the same rows. Bulk rows go through COPY into a temporary table, then one INSERT ... ON CONFLICT.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import astuple, dataclass, fields
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from streams.projector.rows import (
    AccessRow,
    AnswerRow,
    AuditRow,
    CustomerRow,
    DeadLetterRow,
    KeyRow,
    Removed,
    Row,
    Source,
    StateRow,
)

FORGET_BATCH = 5000  # rows removed per statement, so that a backlog of due rows never locks for long


@dataclass(frozen=True)
class _Table:
    name: str
    columns: tuple[str, ...]  # the row type's fields in their order, as the table names them
    key: tuple[str, ...]
    on_conflict: str  # what a row already there gets: DO NOTHING, or DO UPDATE guarded by offset
    scheduled: bool  # has a forget_at


# The rows' fields that the tables name otherwise: where the record was on its topic.
_TOPIC_POSITION = {"partition": "topic_partition", "offset": "topic_offset"}


def _table(
    name: str,
    row_type: type,
    key: Sequence[str],
    *,
    update: bool,
    renamed: Mapping[str, str] = _TOPIC_POSITION,
) -> _Table:
    columns = tuple(renamed.get(f.name, f.name) for f in fields(row_type))
    if update:
        changed = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in key)
        clause = f"DO UPDATE SET {changed} WHERE {name}.topic_offset < EXCLUDED.topic_offset"
    else:
        clause = "DO NOTHING"
    return _Table(name, columns, tuple(key), clause, "forget_at" in columns)


_AUDIT = _table("audit_records", AuditRow, ("audit_id",), update=False)
# A state's partition is its key's (the changelog's is the same): a column that means more than where.
_OFFSET_ONLY = {"offset": "topic_offset"}
_STATES = _table("alarm_states", StateRow, ("alarm_id",), update=True, renamed=_OFFSET_ONLY)
_CUSTOMERS = _table("customer_records", CustomerRow, ("customer_id",), update=True, renamed=_OFFSET_ONLY)
_KEYS = _table("subject_keys", KeyRow, ("name",), update=True, renamed=_OFFSET_ONLY)
_ANSWERS = _table("request_answers", AnswerRow, ("request_id",), update=False)
_DEADLETTERS = _table("dead_letters", DeadLetterRow, ("topic_partition", "topic_offset"), update=False)
_ACCESS_LOG = _table("access_log", AccessRow, ("access_id",), update=False)
_TABLE_OF: dict[type, _Table] = {
    AuditRow: _AUDIT,
    StateRow: _STATES,
    CustomerRow: _CUSTOMERS,
    KeyRow: _KEYS,
    AnswerRow: _ANSWERS,
    DeadLetterRow: _DEADLETTERS,
    AccessRow: _ACCESS_LOG,
}
_REMOVED_FROM = {
    Source.ALARM_STATES: _STATES,
    Source.CUSTOMER_RECORDS: _CUSTOMERS,
    Source.SUBJECT_KEYS: _KEYS,
}
# The archive's own schedule: rows with a forget_at, removed once it has passed.
SCHEDULED = tuple(t for t in _TABLE_OF.values() if t.scheduled)


@asynccontextmanager
async def open_archive(conninfo: str) -> AsyncIterator[ArchiveWriter]:
    """A writer on its own connection (autocommit: each write is one explicit transaction), with its
    staging tables (temporary: the session's own, emptied at each commit)."""
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        for table in _TABLE_OF.values():
            await conn.execute(
                sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {s} (LIKE {t}) ON COMMIT DELETE ROWS").format(
                    s=sql.Identifier(f"staging_{table.name}"), t=sql.Identifier(table.name)
                )
            )
        yield ArchiveWriter(conn)


class ArchiveWriter:
    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._conn = conn

    async def positions(self) -> dict[tuple[str, int], int]:
        """Where the last batch ended: the next offset to read, by (topic, partition)."""
        cursor = await self._conn.execute("SELECT topic, partition, next_offset FROM projector_positions")
        return {(topic, partition): offset for topic, partition, offset in await cursor.fetchall()}

    async def write(self, rows: Iterable[Row], positions: Mapping[tuple[str, int], int]) -> dict[str, int]:
        """The rows and the positions they were read up to, in one transaction. Returns rows written
        (new or changed) by table."""
        by_table: dict[_Table, list[Row]] = {}
        latest_state: dict[tuple[str, str], StateRow | CustomerRow | KeyRow | Removed] = {}
        for row in rows:
            if isinstance(row, (StateRow, CustomerRow, KeyRow)):
                latest_state[(_TABLE_OF[type(row)].name, _state_key(row))] = row  # in offset order
            elif isinstance(row, Removed):
                latest_state[(_REMOVED_FROM[row.source].name, row.key)] = row
            elif type(row) in _TABLE_OF:
                by_table.setdefault(_TABLE_OF[type(row)], []).append(row)
        removals: dict[_Table, list[Removed]] = {}
        for row in latest_state.values():
            if isinstance(row, Removed):
                removals.setdefault(_REMOVED_FROM[row.source], []).append(row)
            else:
                by_table.setdefault(_TABLE_OF[type(row)], []).append(row)
        written: dict[str, int] = {}
        async with self._conn.transaction():
            for table, table_rows in by_table.items():
                written[table.name] = await self._upsert(table, table_rows)
            for table, removed in removals.items():
                written[table.name] = written.get(table.name, 0) + await self._remove(table, removed)
            async with self._conn.cursor() as cursor:
                await cursor.executemany(
                    "INSERT INTO projector_positions (topic, partition, next_offset) VALUES (%s, %s, %s)"
                    " ON CONFLICT (topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset",
                    [(topic, partition, offset) for (topic, partition), offset in positions.items()],
                )
        return written

    async def forget_partition(self, source: Source, partition: int) -> int:
        """Drop the states read from one changelog partition (to read it again from its beginning);
        other sources' rows stay (audit records are kept by their id)."""
        table = _REMOVED_FROM.get(source)
        if table is None:
            return 0
        statement = sql.SQL("DELETE FROM {t} WHERE partition = %s").format(t=sql.Identifier(table.name))
        cursor = await self._conn.execute(statement, (partition,))
        return cursor.rowcount

    async def record_status(self, lag_records: int, caught_up: bool, now: datetime) -> None:
        await self._conn.execute(
            "INSERT INTO projector_status (id, lag_records, caught_up, measured_at) VALUES (1, %s, %s, %s)"
            " ON CONFLICT (id) DO UPDATE SET lag_records = EXCLUDED.lag_records,"
            " caught_up = EXCLUDED.caught_up, measured_at = EXCLUDED.measured_at",
            (lag_records, caught_up, now),
        )

    async def forget_due(self, now: datetime) -> dict[str, int]:
        """Remove the rows whose time has come (audit records past AUDIT_RETENTION, answers, dead
        letters); returns how many, by table."""
        forgotten: dict[str, int] = {}
        for table in SCHEDULED:
            key = sql.SQL(", ").join(map(sql.Identifier, table.key))
            statement = sql.SQL(
                "DELETE FROM {t} WHERE ({k}) IN (SELECT {k} FROM {t} WHERE forget_at <= %s LIMIT {n})"
            ).format(t=sql.Identifier(table.name), k=key, n=sql.Literal(FORGET_BATCH))
            total = 0
            while True:
                async with self._conn.transaction():
                    cursor = await self._conn.execute(statement, (now,))
                total += cursor.rowcount
                if cursor.rowcount < FORGET_BATCH:
                    break
            forgotten[table.name] = total
        return forgotten

    async def _upsert(self, table: _Table, rows: list[Row]) -> int:
        staging = sql.Identifier(f"staging_{table.name}")
        columns = sql.SQL(", ").join(map(sql.Identifier, table.columns))
        async with self._conn.cursor() as cursor:
            copy = sql.SQL("COPY {s} ({c}) FROM STDIN").format(s=staging, c=columns)
            async with cursor.copy(copy) as writing:
                for row in rows:
                    await writing.write_row(astuple(row))
            # A row whose time has passed (a replay of old records) is not archived again.
            due = sql.SQL(" WHERE forget_at > now()" if table.scheduled else "")
            await cursor.execute(
                sql.SQL("INSERT INTO {t} ({c}) SELECT {c} FROM {s}{due} ON CONFLICT ({k}) {action}").format(
                    t=sql.Identifier(table.name),
                    c=columns,
                    s=staging,
                    due=due,
                    k=sql.SQL(", ").join(map(sql.Identifier, table.key)),
                    action=sql.SQL(table.on_conflict),
                )
            )
            return cursor.rowcount

    async def _remove(self, table: _Table, removed: list[Removed]) -> int:
        statement = sql.SQL("DELETE FROM {t} WHERE {k} = %s AND topic_offset < %s").format(
            t=sql.Identifier(table.name), k=sql.Identifier(table.key[0])
        )
        total = 0
        async with self._conn.cursor() as cursor:
            for row in removed:
                await cursor.execute(statement, (row.key, row.offset))
                total += cursor.rowcount
        return total


def _state_key(row: StateRow | CustomerRow | KeyRow) -> str:
    if isinstance(row, KeyRow):
        return row.name
    return row.alarm_id if isinstance(row, StateRow) else row.customer_id
