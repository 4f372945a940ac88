"""The archive as the API's read model, against a real PostgreSQL: the alarm a hold is on is known as
soon as the alarm's state is archived (its audit record comes later), counts by partition, and reading
keys the database could not store answers "not found" rather than failing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from psycopg_pool import AsyncConnectionPool

from handlers.state import AlarmState, Hold, MediaObject, encode_state
from streams.postgres.archive_writer import open_archive
from streams.postgres.migrate import migrate
from streams.postgres.read_model import ArchiveReads
from streams.projector.rows import Kept, Record, Source, row_of

pytestmark = pytest.mark.integration
NOW = datetime.now(UTC).replace(microsecond=0)
KEPT = Kept(audit=timedelta(days=2192), deadletter=timedelta(days=30), answers=timedelta(days=14))


@pytest.fixture
async def reads(database_url: str) -> AsyncIterator[ArchiveReads]:
    await migrate(database_url)
    async with AsyncConnectionPool(database_url, min_size=1, max_size=2, open=False) as pool:
        yield ArchiveReads(pool, partitions=4, hold_retention=timedelta(days=30))


async def _archive_states(url: str, states: list[tuple[int, AlarmState]]) -> None:
    rows = [
        row_of(Record(Source.ALARM_STATES, partition, n, s.alarm_id.encode(), encode_state(s)), KEPT)
        for n, (partition, s) in enumerate(states)
    ]
    async with open_archive(url) as archive:
        await archive.write(rows, {})


def _alarm(alarm_id: str, objects: int, *, holds: tuple[Hold, ...] = (), overdue: bool = False) -> AlarmState:
    triggered = NOW - timedelta(days=8 if overdue else 1)
    media = tuple(MediaObject(bucket="b", key=f"{alarm_id}/{i}") for i in range(objects))
    return AlarmState(
        alarm_id=alarm_id,
        customer_id="C1",
        triggered_at=triggered,
        media=media,
        holds=holds,
        deadline=triggered + timedelta(days=7),
    )


async def test_a_holds_alarm_is_known_from_its_state(reads: ArchiveReads, database_url: str) -> None:
    hold = Hold(hold_id="h-1", placed_at=NOW, case_reference="2026-POL-1")
    await _archive_states(database_url, [(1, _alarm("A1", 2, holds=(hold,))), (2, _alarm("A2", 1))])
    assert await reads.alarm_of_hold("h-1") == "A1"
    assert await reads.alarm_of_hold("h-unknown") is None


async def test_counts_of_the_given_partitions_or_all(reads: ArchiveReads, database_url: str) -> None:
    await _archive_states(database_url, [(0, _alarm("A1", 2)), (1, _alarm("A2", 3, overdue=True))])
    every = await reads.counts(NOW, timedelta(seconds=30))
    assert (every["pending"], every["overdue"]) == (5, 3)
    assert (await reads.counts(NOW, timedelta(seconds=30), {0}))["pending"] == 2
    assert (await reads.counts(NOW, timedelta(seconds=30), set()))["pending"] == 0
