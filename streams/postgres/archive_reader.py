"""Reading the archive: the questions a data protection officer or an auditor asks years later.

Each is one indexed query (see migrations/); lists come a page at a time in (occurred_at, audit_id)
order, with the last row's position as the cursor of the next page. The README's "The archive" gives
the same queries in SQL, for psql.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from streams.postgres.subject_keys import CASE_KIDS, CUSTOMER_KIDS, opened
from streams.protection.pseudonyms import Pseudonyms

# What counts as a deletion of the customer's data: their media (every version gone) and the other
# systems' confirmations of the erasure commands (R3-R8).
DELETION_TYPES = ("media.deleted", "erasure.confirmed")
# What ends a hold: released by the police, expired at the hold limit, or dropped (never applied).
HOLD_ENDINGS = ("hold.released", "hold.expired", "hold.dropped")
MAX_PAGE = 1000
# A customer's records: by id (written before their fields were encrypted) or by their keys' ids.
_OF_CUSTOMER = f"(customer_id = %(key)s OR customer_kid IN ({CUSTOMER_KIDS}))"


@dataclass(frozen=True)
class Page:
    records: list[dict[str, Any]]
    next_cursor: str | None  # None: the last page


@dataclass(frozen=True)
class CaseHold:
    hold_id: str
    alarm_id: str | None
    unit: str | None
    placed_at: datetime
    placed_by: str | None
    kept_until: str | None
    ended_by: str | None  # the audit type that ended it, or None while active
    ended_at: datetime | None


def encode_cursor(occurred_at: datetime, audit_id: str) -> str:
    return f"{occurred_at.isoformat()}|{audit_id}"


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        moment, audit_id = cursor.split("|", 1)
        return datetime.fromisoformat(moment), str(uuid.UUID(audit_id))
    except ValueError:
        raise ValueError("not a cursor this API gave") from None


@dataclass(frozen=True)
class ArchiveStatus:
    lag_records: int  # records on the projector's topics not yet in the archive
    caught_up: bool
    measured_at: datetime


class ArchiveReader:
    def __init__(self, pool: AsyncConnectionPool[Any], pseudonyms: Pseudonyms) -> None:
        """`pseudonyms`: the worker's (PSEUDONYM_KEY), to find a customer's or a case's keys."""
        self._pool = pool
        self._pseudonyms = pseudonyms

    async def deletions_of_customer(
        self, customer_id: str, cursor: str | None = None, limit: int = 100
    ) -> Page:
        """Every deletion of the customer's data: media (with the objects) and erasures confirmed."""
        return await self._page(
            f"{_OF_CUSTOMER} AND type = ANY(%(types)s)",
            {**self._customer(customer_id), "types": list(DELETION_TYPES)},
            cursor,
            limit,
        )

    async def disclosures_of_customer(self, customer_id: str) -> list[dict[str, Any]]:
        """Every `media.disclosed` record about the customer's media (at most a page of 1,000)."""
        page = await self._page(
            f"{_OF_CUSTOMER} AND type = 'media.disclosed'", self._customer(customer_id), None, MAX_PAGE
        )
        return page.records

    async def trail_of_customer(self, customer_id: str, cursor: str | None = None, limit: int = 100) -> Page:
        return await self._page(_OF_CUSTOMER, self._customer(customer_id), cursor, limit)

    def _customer(self, customer_id: str) -> dict[str, Any]:
        return {"key": customer_id, "ref": self._pseudonyms.customer(customer_id)}

    async def trail_of_alarm(self, alarm_id: str, cursor: str | None = None, limit: int = 100) -> Page:
        return await self._page("alarm_id = %(key)s", {"key": alarm_id}, cursor, limit)

    async def access_log(
        self, customer_id: str | None = None, identity: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """The latest reads of personal data through the API, newest first: of a customer's data (by
        their pseudonym), by one caller, or all."""
        await self._pool.open(wait=False)
        async with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "SELECT access_id::text, at, identity, role, unit, client, method, endpoint, read, query,"
                " status"
                " FROM access_log"
                " WHERE (%(customer)s::text IS NULL OR read ->> 'customer_id' = %(customer)s)"
                " AND (%(identity)s::text IS NULL OR identity = %(identity)s)"
                " ORDER BY at DESC, access_id LIMIT %(limit)s",
                {
                    "customer": self._pseudonyms.customer(customer_id) if customer_id else None,
                    "identity": identity,
                    "limit": max(1, min(limit, MAX_PAGE)),
                },
            )
            return list(await cur.fetchall())

    async def status(self) -> ArchiveStatus | None:
        """The projector's last report of its lag; None before its first."""
        await self._pool.open(wait=False)
        async with self._pool.connection() as conn:
            cursor = await conn.execute("SELECT lag_records, caught_up, measured_at FROM projector_status")
            row = await cursor.fetchone()
        return ArchiveStatus(*row) if row is not None else None

    async def holds_in_case(self, case_reference: str) -> list[CaseHold]:
        """Every hold placed in the police case, when, by whom, until when, and how and when it ended."""
        await self._pool.open(wait=False)  # a no-op once open
        async with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                f"""
                SELECT DISTINCT ON (placed.hold_id)
                       placed.hold_id, placed.alarm_id, placed.occurred_at AS placed_at,
                       placed.record, ended.type AS ended_by, ended.occurred_at AS ended_at
                FROM audit_records placed
                LEFT JOIN LATERAL (
                    SELECT type, occurred_at FROM audit_records e
                    WHERE e.hold_id = placed.hold_id AND e.type = ANY(%(endings)s)
                    ORDER BY e.occurred_at LIMIT 1
                ) ended ON true
                WHERE (placed.case_reference = %(case)s OR placed.hold_kid IN ({CASE_KIDS}))
                  AND placed.type = 'hold.accepted'
                ORDER BY placed.hold_id, placed.occurred_at
                """,  # noqa: S608 - a fixed clause
                {
                    "case": case_reference,
                    "case_ref": self._pseudonyms.case(case_reference),
                    "endings": list(HOLD_ENDINGS),
                },
            )
            rows = await cur.fetchall()
            records = await opened(conn, [row.pop("record") for row in rows])
        holds = [
            CaseHold(
                **row,
                unit=(record.get("details") or {}).get("unit"),
                placed_by=(record.get("details") or {}).get("placed_by"),
                kept_until=(record.get("details") or {}).get("kept_until"),
            )
            for row, record in zip(rows, records, strict=True)
        ]
        return sorted(holds, key=lambda h: (h.placed_at, h.hold_id))

    async def _page(self, where: str, params: dict[str, Any], cursor: str | None, limit: int) -> Page:
        limit = max(1, min(limit, MAX_PAGE))
        after = ""
        if cursor is not None:
            params["after_at"], params["after_id"] = decode_cursor(cursor)
            after = " AND (occurred_at, audit_id) > (%(after_at)s, %(after_id)s::uuid)"
        params["limit"] = limit + 1  # one more: whether there is a next page
        await self._pool.open(wait=False)
        async with self._pool.connection() as conn, conn.cursor() as cur:
            await cur.execute(
                "SELECT occurred_at, audit_id::text, record FROM audit_records"  # noqa: S608 - fixed clauses
                f" WHERE {where}{after} ORDER BY occurred_at, audit_id LIMIT %(limit)s",
                params,
            )
            rows = await cur.fetchall()
            more = len(rows) > limit
            rows = rows[:limit]
            records = await opened(conn, [r[2] for r in rows])
        return Page(records, encode_cursor(rows[-1][0], rows[-1][1]) if more and rows else None)
