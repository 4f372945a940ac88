"""The read model in the archive: the API's, the dashboard's, the metrics', the sweep's and the access
answer's questions as queries, so that every process answers the same and no worker keeps the other
partitions in memory. As current as the projector (its lag is on the dashboard)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from datetime import datetime, timedelta
from typing import Any, LiteralString

from psycopg_pool import AsyncConnectionPool

from handlers.erasure import CustomerRecord, Erasure, decode_customer
from handlers.state import AlarmState, decode_state
from streams.postgres.subject_keys import opened
from streams.worker.projection import ActiveHold

AUDIT_RECORDS_PER_ALARM = 500
SILENT_SECONDS = 30.0  # the projector reports every 2 s
BACKLOG_RECORDS = 10_000  # the API's alarm trail; the archive's own endpoint pages through all


class ArchiveReads:
    def __init__(self, pool: AsyncConnectionPool[Any], partitions: int, hold_retention: timedelta) -> None:
        self._pool = pool
        self.partitions = partitions
        self._hold_retention = hold_retention

    async def caught_up(self) -> bool:
        row = await self._one("SELECT caught_up FROM projector_status")
        return bool(row and row[0])

    async def behind(self, now: datetime) -> str | None:
        """Why the archive's figures cannot be trusted as current, if they cannot: the projector has not
        reported for a while (stopped, or cut off), or reports a backlog."""
        row = await self._one("SELECT lag_records, measured_at FROM projector_status")
        if row is None:
            return "the projector has not reported yet"
        lag, measured_at = row
        silent = (now - measured_at).total_seconds()
        if silent > SILENT_SECONDS:
            return f"the projector has not reported for {silent:.0f} s: the archive's figures are stale"
        if lag > BACKLOG_RECORDS:
            return f"the archive is {lag} records behind the topics"
        return None

    async def alarm(self, alarm_id: str) -> AlarmState | None:
        row = await self._one("SELECT state::text FROM alarm_states WHERE alarm_id = %s", alarm_id)
        return decode_state(row[0].encode()) if row else None

    async def every_alarm(self) -> AsyncIterator[AlarmState]:
        # A server-side cursor: a page at a time, however many alarms.
        await self._pool.open(wait=False)
        async with (
            self._pool.connection() as conn,
            conn.transaction(),
            conn.cursor(name="every_alarm") as cursor,
        ):
            await cursor.execute("SELECT state::text FROM alarm_states")
            async for (state,) in cursor:
                yield decode_state(state.encode())

    async def alarm_of_hold(self, hold_id: str) -> str | None:
        # The state first: its hold reaches the archive before the audit record that answers it.
        row = await self._one(
            "SELECT alarm_id FROM alarm_states WHERE hold_ids @> ARRAY[%s]::text[]", hold_id
        )
        return row[0] if row else None

    async def customer_alarms(self, customer_id: str) -> list[AlarmState]:
        rows = await self._all(
            "SELECT state::text FROM alarm_states WHERE customer_id = %s ORDER BY alarm_id", customer_id
        )
        return [decode_state(r[0].encode()) for r in rows]

    async def customer_record(self, customer_id: str) -> CustomerRecord | None:
        row = await self._one("SELECT record::text FROM customer_records WHERE customer_id = %s", customer_id)
        return decode_customer(row[0].encode()) if row else None

    async def unconfirmed_erasures(self) -> list[tuple[str, Erasure]]:
        rows = await self._all(
            "SELECT customer_id, record::text FROM customer_records WHERE unconfirmed_erasures > 0"
            " ORDER BY customer_id"
        )
        return [(customer, e) for customer, raw in rows for e in decode_customer(raw.encode()).unconfirmed]

    async def erasure_counts(self, partitions: Collection[int] | None = None) -> tuple[int, int]:
        row = await self._one(
            "SELECT coalesce(sum(open_erasures), 0), coalesce(sum(unconfirmed_erasures), 0)"
            " FROM customer_records WHERE (%s::integer[] IS NULL OR partition = ANY(%s::integer[]))",
            *_partitions(partitions),
        )
        assert row is not None
        return int(row[0]), int(row[1])

    async def audit_of(self, alarm_id: str) -> list[dict[str, Any]]:
        rows = await self._all(
            "SELECT record FROM (SELECT record, occurred_at, topic_partition, topic_offset"
            " FROM audit_records WHERE alarm_id = %s"
            " ORDER BY occurred_at DESC, topic_partition DESC, topic_offset DESC LIMIT %s) AS latest"
            " ORDER BY occurred_at, topic_partition, topic_offset",
            alarm_id,
            AUDIT_RECORDS_PER_ALARM,
        )
        await self._pool.open(wait=False)
        async with self._pool.connection() as conn:
            return await opened(conn, [r[0] for r in rows])

    async def active_holds(self, partitions: Collection[int] | None = None) -> list[ActiveHold]:
        rows = await self._all(
            "SELECT partition, state::text FROM alarm_states"
            " WHERE held AND (%s::integer[] IS NULL OR partition = ANY(%s::integer[]))",
            *_partitions(partitions),
        )
        found: list[ActiveHold] = []
        for partition, raw in rows:
            state = decode_state(raw.encode())
            if state.triggered_at is None:
                continue  # waiting for its alarm: not keeping anything yet
            expires = state.triggered_at + self._hold_retention
            found.extend(ActiveHold(state.alarm_id, partition, h, expires) for h in state.active_holds)
        return sorted(found, key=lambda h: (h.expires_at, h.alarm_id, h.hold.hold_id))

    async def counts(
        self, now: datetime, grace: timedelta, partitions: Collection[int] | None = None
    ) -> dict[str, int]:
        """pending, deleting, deleted and overdue objects (past their deadline by more than `grace`)."""
        cutoff = now - grace
        row = await self._one(
            "SELECT coalesce(sum(pending), 0), coalesce(sum(deleting), 0), coalesce(sum(deleted), 0),"
            " coalesce(sum(pending) FILTER (WHERE deadline < %s), 0)"
            " + coalesce(sum(deleting) FILTER (WHERE oldest_deleting_due < %s), 0)"
            " FROM alarm_states WHERE (%s::integer[] IS NULL OR partition = ANY(%s::integer[]))",
            cutoff,
            cutoff,
            *_partitions(partitions),
        )
        assert row is not None
        return {"pending": row[0], "deleting": row[1], "deleted": row[2], "overdue": row[3]}

    async def due_per_hour(self, now: datetime, hours: int = 168) -> list[dict[str, Any]]:
        """Objects falling due in each of the next `hours` hours (the first bucket includes overdue)."""
        start = now.replace(minute=0, second=0, microsecond=0)
        end = start + timedelta(hours=hours)
        rows = await self._all(
            "SELECT greatest(0, floor(extract(epoch FROM deadline - %s) / 3600))::int AS hour, sum(pending)"
            " FROM alarm_states WHERE deadline < %s GROUP BY hour",
            start,
            end,
        )
        buckets = [0] * hours
        for hour, objects in rows:
            buckets[hour] += int(objects)
        return [
            {"hour": (start + timedelta(hours=i)).isoformat(), "objects": n} for i, n in enumerate(buckets)
        ]

    async def upcoming(self, now: datetime, limit: int = 20) -> list[dict[str, Any]]:
        """The alarms whose pending media goes next."""
        rows = await self._all(
            "SELECT alarm_id, pending, deadline, held FROM alarm_states WHERE deadline IS NOT NULL"
            " ORDER BY deadline, alarm_id LIMIT %s",
            limit,
        )
        return [
            {
                "alarm_id": alarm_id,
                "objects": pending,
                "deadline": deadline.astimezone(now.tzinfo).isoformat(),
                "seconds_left": round((deadline - now).total_seconds(), 1),
                "held": held,
            }
            for alarm_id, pending, deadline, held in rows
        ]

    async def answer(self, request_id: str) -> dict[str, Any] | None:
        row = await self._one("SELECT answer FROM request_answers WHERE request_id = %s", request_id)
        return row[0] if row else None

    async def deadletters(self, limit: int = 50) -> list[dict[str, Any]]:
        rows = await self._all(
            "SELECT reason, source, dead_lettered_at FROM dead_letters"
            " ORDER BY dead_lettered_at DESC, topic_partition, topic_offset DESC LIMIT %s",
            limit,
        )
        return [{"reason": reason, "source": source, "at": at.isoformat()} for reason, source, at in rows]

    async def last_sweep(self) -> dict[str, Any] | None:
        row = await self._one(
            "SELECT record FROM audit_records WHERE type = 'sweep.completed'"
            " ORDER BY occurred_at DESC LIMIT 1"
        )
        return row[0] if row else None

    async def sweep_findings(self, sweep_id: str) -> list[dict[str, Any]]:
        rows = await self._all(
            "SELECT record FROM audit_records"
            " WHERE alarm_id IS NULL AND customer_id IS NULL AND customer_kid IS NULL"
            " AND record -> 'details' ->> 'sweep_id' = %s AND type <> 'sweep.completed'"
            " ORDER BY occurred_at, topic_partition, topic_offset",
            sweep_id,
        )
        await self._pool.open(wait=False)
        async with self._pool.connection() as conn:
            return await opened(conn, [r[0] for r in rows])

    async def _one(self, query: LiteralString, *params: Any) -> tuple[Any, ...] | None:
        await self._pool.open(wait=False)
        async with self._pool.connection() as conn:
            cursor = await conn.execute(query, params)
            row: tuple[Any, ...] | None = await cursor.fetchone()
            return row

    async def _all(self, query: LiteralString, *params: Any) -> list[tuple[Any, ...]]:
        await self._pool.open(wait=False)
        async with self._pool.connection() as conn:
            cursor = await conn.execute(query, params)
            rows: list[tuple[Any, ...]] = await cursor.fetchall()
            return rows


def _partitions(partitions: Collection[int] | None) -> tuple[list[int] | None, list[int] | None]:
    """The parameters of "(%s::integer[] IS NULL OR partition = ANY(%s::integer[]))": rows of the given
    partitions (a worker's own figures), or of all when None."""
    chosen = sorted(partitions) if partitions is not None else None
    return chosen, chosen
