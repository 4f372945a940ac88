"""What the API, the dashboard, the metrics, the sweep and the customer's access answer read: the state
of every alarm and customer, the audit trail, answers and dead letters, across all partitions.

Two implementations: the archive in PostgreSQL (`streams/postgres/read_model.py`, when DATABASE_URL
is set: every process answers the same and a worker holds only its own partitions), or a read model
each worker builds in memory from the topics (`streams/worker/projection.py`, without a database: each
worker reads every partition).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from datetime import datetime, timedelta
from typing import Any, Protocol

from handlers.erasure import CustomerRecord, Erasure
from handlers.state import AlarmState
from streams.worker.projection import ActiveHold, Projection


class ReadModel(Protocol):
    partitions: int

    async def caught_up(self) -> bool: ...
    async def behind(self, now: datetime) -> str | None: ...
    async def alarm(self, alarm_id: str) -> AlarmState | None: ...
    def every_alarm(self) -> AsyncIterator[AlarmState]: ...
    async def alarm_of_hold(self, hold_id: str) -> str | None: ...
    async def customer_alarms(self, customer_id: str) -> list[AlarmState]: ...
    async def customer_record(self, customer_id: str) -> CustomerRecord | None: ...
    async def unconfirmed_erasures(self) -> list[tuple[str, Erasure]]: ...
    async def erasure_counts(self, partitions: Collection[int] | None = None) -> tuple[int, int]: ...
    async def audit_of(self, alarm_id: str) -> list[dict[str, Any]]: ...
    async def active_holds(self, partitions: Collection[int] | None = None) -> list[ActiveHold]: ...
    async def counts(
        self, now: datetime, grace: timedelta, partitions: Collection[int] | None = None
    ) -> dict[str, int]: ...
    async def due_per_hour(self, now: datetime, hours: int = 168) -> list[dict[str, Any]]: ...
    async def upcoming(self, now: datetime, limit: int = 20) -> list[dict[str, Any]]: ...
    async def answer(self, request_id: str) -> dict[str, Any] | None: ...
    async def deadletters(self, limit: int = 50) -> list[dict[str, Any]]: ...
    async def last_sweep(self) -> dict[str, Any] | None: ...
    async def sweep_findings(self, sweep_id: str) -> list[dict[str, Any]]: ...


class ProjectionReads:
    """The in-memory read model behind the same questions."""

    def __init__(self, projection: Projection) -> None:
        self.projection = projection
        self.partitions = projection.partitions

    async def caught_up(self) -> bool:
        return self.projection.caught_up

    async def behind(self, now: datetime) -> str | None:
        return None  # fed in this process: as current as its own consumer

    async def alarm(self, alarm_id: str) -> AlarmState | None:
        return self.projection.alarm(alarm_id)

    async def every_alarm(self) -> AsyncIterator[AlarmState]:
        for alarm_id in self.projection.alarm_ids():
            state = self.projection.alarm(alarm_id)
            if state is not None:
                yield state

    async def alarm_of_hold(self, hold_id: str) -> str | None:
        return self.projection.alarm_of_hold(hold_id)

    async def customer_alarms(self, customer_id: str) -> list[AlarmState]:
        return self.projection.customer_alarms(customer_id)

    async def customer_record(self, customer_id: str) -> CustomerRecord | None:
        return self.projection.customer_record(customer_id)

    async def unconfirmed_erasures(self) -> list[tuple[str, Erasure]]:
        return self.projection.unconfirmed_erasures()

    async def erasure_counts(self, partitions: Collection[int] | None = None) -> tuple[int, int]:
        return self.projection.erasure_counts(partitions)

    async def audit_of(self, alarm_id: str) -> list[dict[str, Any]]:
        return self.projection.audit_of(alarm_id)

    async def active_holds(self, partitions: Collection[int] | None = None) -> list[ActiveHold]:
        return self.projection.active_holds(partitions)

    async def counts(
        self, now: datetime, grace: timedelta, partitions: Collection[int] | None = None
    ) -> dict[str, int]:
        return self.projection.counts(now, grace, partitions)

    async def due_per_hour(self, now: datetime, hours: int = 168) -> list[dict[str, Any]]:
        return self.projection.due_per_hour(now, hours)

    async def upcoming(self, now: datetime, limit: int = 20) -> list[dict[str, Any]]:
        return self.projection.upcoming(now, limit)

    async def answer(self, request_id: str) -> dict[str, Any] | None:
        return self.projection.answer(request_id)

    async def deadletters(self, limit: int = 50) -> list[dict[str, Any]]:
        return list(self.projection.deadletters)[:limit]

    async def last_sweep(self) -> dict[str, Any] | None:
        return self.projection.last_sweep

    async def sweep_findings(self, sweep_id: str) -> list[dict[str, Any]]:
        return self.projection.sweep_findings(sweep_id)
