"""The archive's writes against a real PostgreSQL: each batch with its positions, idempotent, states
by offset, tombstones, and the archive's own schedule (rows removed at their forget_at, not before)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from handlers.state import AlarmState, MediaObject, encode_state
from streams.postgres.archive_writer import open_archive
from streams.postgres.migrate import migrate, migrations
from streams.projector.rows import Kept, Record, Removed, Skipped, Source, row_of

pytestmark = pytest.mark.integration
NOW = datetime.now(UTC).replace(microsecond=0)
KEPT = Kept(audit=timedelta(days=2192), deadletter=timedelta(days=30), answers=timedelta(days=14))


def _audit(offset: int, audit_id: str, **fields: Any) -> Record:
    document = {
        "type": "media.deleted",
        "audit_id": audit_id,
        "occurred_at": NOW.isoformat(),
        "alarm_id": "A1",
        "customer_id": "C1",
        "caused_by": "e1",
        **fields,
    }
    return Record(Source.AUDIT, 0, offset, b"A1", json.dumps(document).encode())


def _state(offset: int, alarm_id: str, keys: tuple[str, ...]) -> Record:
    state = AlarmState(
        alarm_id=alarm_id,
        customer_id="C1",
        triggered_at=NOW,
        media=tuple(MediaObject(bucket="b", key=k) for k in keys),
    )
    return Record(Source.ALARM_STATES, 1, offset, alarm_id.encode(), encode_state(state))


def _rows(*records: Record) -> list[Any]:
    return [row_of(r, KEPT) for r in records]


def _query(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


async def test_migrations_apply_once_and_say_the_version(database_url: str) -> None:
    assert await migrate(database_url) == len(migrations())
    assert await migrate(database_url) == len(migrations())  # a second start changes nothing
    assert _query(database_url, "SELECT version FROM schema_migrations ORDER BY version") == [(1,), (2,)]


async def test_a_batch_written_twice_is_kept_once_with_its_positions(database_url: str) -> None:
    await migrate(database_url)
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    rows = _rows(_audit(0, first), _audit(1, second), _audit(2, first))  # a crash published one twice
    async with open_archive(database_url) as archive:
        written = await archive.write(rows, {("audit", 0): 3})
        again = await archive.write(rows, {("audit", 0): 3})
        assert await archive.positions() == {("audit", 0): 3}
    assert written["audit_records"] == 2
    assert again["audit_records"] == 0
    assert sorted(r[0] for r in _query(database_url, "SELECT audit_id::text FROM audit_records")) == sorted(
        [first, second]
    )


async def test_a_state_follows_the_latest_offset_and_goes_with_its_tombstone(database_url: str) -> None:
    await migrate(database_url)
    async with open_archive(database_url) as archive:
        await archive.write(_rows(_state(5, "A1", ("k1", "k2"))), {("alarms", 1): 6})
        await archive.write(_rows(_state(4, "A1", ("k1",))), {("alarms", 1): 6})  # older: ignored
        assert _query(database_url, "SELECT pending, topic_offset FROM alarm_states") == [(2, 5)]
        # In one batch, a state then its tombstone: the tombstone wins; another alarm's state stays.
        batch = _rows(_state(6, "A1", ("k1",)), _state(7, "A2", ("k9",)))
        batch.append(Removed(Source.ALARM_STATES, "A1", 8))
        await archive.write(batch, {("alarms", 1): 9})
    assert _query(database_url, "SELECT alarm_id, customer_id FROM alarm_states") == [("A2", "C1")]


async def test_rows_are_forgotten_at_their_time_and_not_before(database_url: str) -> None:
    await migrate(database_url)
    soon, later = str(uuid.uuid4()), str(uuid.uuid4())
    almost_due = (NOW - KEPT.audit + timedelta(minutes=1)).isoformat()  # due in a minute
    rows = _rows(_audit(0, soon, occurred_at=almost_due), _audit(1, later))
    async with open_archive(database_url) as archive:
        await archive.write(rows, {("audit", 0): 2})
        assert (await archive.forget_due(NOW))["audit_records"] == 0
        assert (await archive.forget_due(NOW + timedelta(minutes=1)))["audit_records"] == 1
        assert (await archive.forget_due(NOW + timedelta(minutes=1)))["audit_records"] == 0
    assert _query(database_url, "SELECT audit_id::text FROM audit_records") == [(later,)]


async def test_a_record_read_again_after_its_time_is_not_archived_again(database_url: str) -> None:
    await migrate(database_url)
    expired = (NOW - KEPT.audit - timedelta(seconds=1)).isoformat()
    async with open_archive(database_url) as archive:
        written = await archive.write(
            _rows(_audit(0, str(uuid.uuid4()), occurred_at=expired)), {("audit", 0): 1}
        )
    assert written["audit_records"] == 0
    assert _query(database_url, "SELECT count(*) FROM audit_records") == [(0,)]


def test_a_record_that_cannot_be_read_is_skipped_with_its_reason() -> None:
    row = row_of(Record(Source.AUDIT, 0, 7, None, b"{not json"), KEPT)
    assert isinstance(row, Skipped)
    assert "JSONDecodeError" in row.reason
