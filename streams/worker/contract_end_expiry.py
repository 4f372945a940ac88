"""Contract ends are forgotten once no alarm of the customer can still need them (schedule row S4).

A contract end brings the deadline of the customer's alarms forward. An alarm triggered before the end
is past its own deadline (R1) `media_retention` after it, and past its hold limit 30 days after it, so
an end older than that changes nothing any more. Every partition keeps its own copy of each end (each
heard the broadcast); this forgets each partition's copy, through the internal topic, so the tombstone
is written in stream processing of that partition.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Collection
from datetime import datetime, timedelta

import structlog

from handlers.commands import ContractEndsExpired
from streams.clock import Clock
from streams.tables.contract_ends import ContractEnds
from streams.worker.scheduler import Index, Scheduler

log = structlog.get_logger(__name__)
SendInternal = Callable[[int, bytes], Awaitable[None]]


class ContractEndExpiry:
    def __init__(
        self,
        contract_ends: ContractEnds,
        kept: timedelta,
        clock: Clock,
        send_internal: SendInternal,
        index: Index,
    ) -> None:
        self._ends = contract_ends
        self._kept = kept
        self._clock = clock
        self._send_internal = send_internal
        self.scheduler = Scheduler(index, clock, self._notify)

    def track(self, customer_id: str, partition: int, ended_at: datetime) -> None:
        # One entry per partition's copy: the index allows one deadline per key.
        self.scheduler.track(f"{partition}/{customer_id}", partition, ended_at + self._kept)

    def on_expired(self, command: ContractEndsExpired, partition: int) -> None:
        now = self._clock.now()
        for customer_id in command.customer_ids:
            known = self._ends.get(customer_id)
            if known is not None and known[0] + self._kept > now:
                self.track(customer_id, partition, known[0])  # an earlier end moved it; not yet
                continue
            self._ends.forget(customer_id)
            log.info("contract_end.forgotten", partition=partition)

    def rebuild(self, partitions: Collection[int]) -> int:
        self.scheduler.index.clear()
        tracked = 0
        for customer_id in self._ends.customers():
            known = self._ends.get(customer_id)
            if known is None:
                continue
            for partition in partitions:
                self.track(customer_id, partition, known[0])
            tracked += 1
        return tracked

    def forget_partitions(self, partitions: Collection[int]) -> None:
        self.scheduler.index.drop_partitions(partitions)

    async def _notify(self, partition: int, keys: list[str], checked_at: datetime) -> None:
        customers = tuple(key.split("/", 1)[1] for key in keys)
        command = ContractEndsExpired(
            event_id=str(uuid.uuid4()), customer_ids=customers, checked_at=checked_at
        )
        await self._send_internal(partition, command.model_dump_json().encode("utf-8"))
