"""The archive's answers to the DPO's questions, against a real PostgreSQL: every deletion of a
customer's data across pages (none missing, none twice, nobody else's), and every hold of a police
case with how and when it ended."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from psycopg_pool import AsyncConnectionPool

from handlers.audit import AuditType, audit_record
from streams.postgres.archive_reader import ArchiveReader
from streams.postgres.archive_writer import open_archive
from streams.postgres.migrate import migrate
from streams.projector.rows import Kept, Record, Source, row_of
from streams.protection.pseudonyms import Pseudonyms

pytestmark = pytest.mark.integration
T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
KEPT = Kept(audit=timedelta(days=2192), deadletter=timedelta(days=30), answers=timedelta(days=14))


@pytest.fixture
async def reader(database_url: str) -> AsyncIterator[ArchiveReader]:
    await migrate(database_url)
    async with AsyncConnectionPool(database_url, min_size=1, max_size=2, open=False) as pool:
        yield ArchiveReader(pool, Pseudonyms(b"test pseudonym key"))


async def _archive(url: str, records: list[bytes]) -> None:
    rows = [row_of(Record(Source.AUDIT, 0, n, None, value), KEPT) for n, value in enumerate(records)]
    async with open_archive(url) as archive:
        await archive.write(rows, {("audit", 0): len(rows)})


def _deleted(alarm: str, customer: str, minute: int) -> bytes:
    return audit_record(
        AuditType.DELETED,
        occurred_at=T0 + timedelta(minutes=minute),
        alarm_id=alarm,
        customer_id=customer,
        caused_by=f"deadline-{alarm}",
        objects=[("alarm-media", f"{alarm}/image-{minute}.jpg")],
    ).to_json()


def _hold(kind: AuditType, hold: str, minute: int, details: dict[str, str] | None = None) -> bytes:
    return audit_record(
        kind,
        occurred_at=T0 + timedelta(minutes=minute),
        alarm_id=f"alarm-{hold}",
        customer_id="C1",
        caused_by=f"event-{hold}-{kind.value}",
        hold_id=hold,
        details=details,
    ).to_json()


async def test_every_deletion_of_a_customer_across_pages(reader: ArchiveReader, database_url: str) -> None:
    mine = [_deleted(f"A{n}", "C1", n) for n in range(25)]
    others = [_deleted(f"B{n}", "C2", n) for n in range(10)]
    scheduled = audit_record(
        AuditType.DELETION_SCHEDULED, occurred_at=T0, alarm_id="A0", customer_id="C1", caused_by="e0"
    ).to_json()
    await _archive(database_url, [*mine, *others, scheduled])

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await reader.deletions_of_customer("C1", cursor, limit=10)
        seen.extend(r["alarm_id"] for r in page.records)
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [f"A{n}" for n in range(25)]  # in order, each once, only C1's deletions
    assert pages == 3
    whole = await reader.trail_of_customer("C1", limit=1000)
    assert len(whole.records) == 26
    assert whole.next_cursor is None


async def test_every_hold_of_a_case_and_how_it_ended(reader: ArchiveReader, database_url: str) -> None:
    placed = {
        "case_reference": "2026-OSL-1",
        "placed_by": "liaison",
        "kept_until": "2026-02-04T08:00:00+00:00",
    }
    await _archive(
        database_url,
        [
            _hold(AuditType.HOLD_ACCEPTED, "h1", 1, placed),
            _hold(AuditType.HOLD_ACCEPTED, "h2", 2, placed),
            _hold(AuditType.HOLD_ACCEPTED, "h3", 3, placed),
            _hold(AuditType.HOLD_ACCEPTED, "h4", 4, {**placed, "case_reference": "another case"}),
            _hold(AuditType.HOLD_RELEASED, "h1", 10),
            _hold(AuditType.HOLD_EXPIRED, "h2", 20),
        ],
    )
    holds = await reader.holds_in_case("2026-OSL-1")
    assert [(h.hold_id, h.ended_by) for h in holds] == [
        ("h1", "hold.released"),
        ("h2", "hold.expired"),
        ("h3", None),
    ]
    assert holds[0].placed_at == T0 + timedelta(minutes=1)
    assert holds[0].ended_at == T0 + timedelta(minutes=10)
    assert holds[0].placed_by == "liaison"


async def test_a_cursor_it_did_not_give_is_refused(reader: ArchiveReader) -> None:
    for cursor in ("not-a-cursor", "2026-01-05T08:00:00+00:00|not-a-uuid"):
        with pytest.raises(ValueError, match="cursor"):
            await reader.trail_of_alarm("A1", cursor=cursor)
