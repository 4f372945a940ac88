"""The shell around handlers/erasure.py: customer events in, erasure commands out, on time.

Contract ends and call recordings start the clocks of the rules other systems carry out; a scheduler
(the same heap as for media deadlines, keyed by customer) sends `erasures.reached` through the internal
topic to the customer's partition when one falls due or a command's confirmation window ends, so every
change to a customer's record is made in stream processing, in order with the confirmations.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Collection
from datetime import datetime, timedelta
from typing import Any

import structlog

from handlers.audit import AuditRecord
from handlers.commands import ErasuresReached
from handlers.erasure import (
    CustomerOutcome,
    CustomerRecord,
    Unsent,
    next_check_at,
    on_call_recorded,
    on_contract_ended,
    on_erasure_completed,
    on_time_passed,
)
from handlers.events import CallRecorded, ContractEnded, ErasureCompleted
from handlers.schedule import Schedule
from streams.audit.chain import AuditChain
from streams.clock import Clock
from streams.tables.customers import CustomerTable
from streams.worker.outbox import Outbox
from streams.worker.scheduler import DeadlineIndex, Index, Scheduler

log = structlog.get_logger(__name__)
SendInternal = Callable[[int, bytes], Awaitable[None]]
FORGET_RETRY = timedelta(seconds=2)  # a finished record whose last items are not acknowledged yet


def _outbox_id(item: Unsent) -> str:
    """An audit record by its audit id; a command by its id and attempt (each attempt is sent)."""
    return item.audit_id if isinstance(item, AuditRecord) else f"{item.command_id}/{item.attempt}"


class Erasures:
    def __init__(
        self,
        *,
        customers: CustomerTable,
        schedule: Schedule,
        confirm_within: timedelta,
        clock: Clock,
        audit_chain: AuditChain,
        commands_topic: Any,
        send_internal: SendInternal,
        index: Index | None = None,
    ) -> None:
        self.customers = customers
        self.schedule = schedule
        self.kept_after_finished = schedule.service_record("customer_erasure_record").lifetime()
        self.confirm_within = confirm_within
        self._clock = clock
        self._audit_chain = audit_chain
        self._commands = commands_topic
        self._send_internal = send_internal
        self.scheduler = Scheduler(index if index is not None else DeadlineIndex(), clock, self._notify)
        self.outbox: Outbox[Unsent] = Outbox(customers.partitions, id_of=_outbox_id)

    def on_customer_event(
        self, event: ContractEnded | CallRecorded | ErasureCompleted, partition: int
    ) -> None:
        previous = self.customers.get(event.customer_id)
        now = self._clock.now()
        if isinstance(event, ContractEnded):
            outcome = on_contract_ended(
                previous, event.customer_id, event.ended_at, event.event_id, self.schedule, now
            )
        elif isinstance(event, CallRecorded):
            outcome = on_call_recorded(previous, event, self.schedule, now)
        else:
            outcome = on_erasure_completed(previous, event, now)
        self._apply(previous, outcome, partition)

    def on_reached(self, command: ErasuresReached, partition: int) -> None:
        for customer_id in command.customer_ids:
            previous = self.customers.get(customer_id)
            if previous is None:
                continue
            outcome = on_time_passed(
                previous, self._clock.now(), self.confirm_within, command.event_id, self.kept_after_finished
            )
            self._apply(previous, outcome, partition)

    def _apply(self, previous: CustomerRecord | None, outcome: CustomerOutcome, partition: int) -> None:
        record = outcome.record
        decided: tuple[Unsent, ...] = (*outcome.audit, *outcome.commands)
        if outcome.forget:
            for item in decided:  # not kept: the same event decides the same again
                self._send(partition, record.customer_id, item)
            if previous is None:
                return
            if self.outbox.unsent(record.customer_id):
                # What it sent travels in the record until acknowledged: forgotten after.
                self.scheduler.track(record.customer_id, partition, self._clock.now() + FORGET_RETRY)
            else:
                self.customers.forget(record.customer_id)
                self.scheduler.track(record.customer_id, partition, None)
                log.info("customer.forgotten", partition=partition)
            return
        if record != previous:
            self.customers.put(record, self.outbox.keep(record.customer_id, decided))
        for item in decided:
            self._send(partition, record.customer_id, item)
        self.scheduler.track(record.customer_id, partition, self._next_check(record))
        if outcome.audit:
            log.info(
                "customer.erasures",
                customer_id=record.customer_id,
                audit=[a.type.value for a in outcome.audit],
                commands=[c.rule for c in outcome.commands],
                open=sum(1 for e in record.erasures if e.open),
            )

    def _send(self, partition: int, customer_id: str, item: Unsent) -> None:
        """Kept in the customer's outbox until acknowledged. An audit record waits for the changelog
        write of the record it describes (streams/audit/chain.py); a command goes at once, buffered by
        faust and flushed before the offset of what caused it is committed: should the record it was
        decided with be lost, the command is decided and sent again, and the system that carries it out
        knows it by its id."""
        item_id = _outbox_id(item)
        if isinstance(item, AuditRecord):
            self._audit_chain.publish(
                partition, customer_id, item, on_sent=lambda: self.outbox.sent(customer_id, item_id)
            )
            return
        self._commands.send_soon(
            key=customer_id.encode("utf-8"),
            value=item.model_dump_json().encode("utf-8"),
            callback=lambda _delivered: self.outbox.sent(customer_id, item_id),
        )

    async def _notify(self, partition: int, customer_ids: list[str], checked_at: datetime) -> None:
        command = ErasuresReached(
            event_id=str(uuid.uuid4()), customer_ids=tuple(customer_ids), checked_at=checked_at
        )
        await self._send_internal(partition, command.model_dump_json().encode("utf-8"))

    def rebuild(self, partitions: Collection[int]) -> tuple[int, int]:
        """The schedule of these partitions' customers, and whatever their outboxes hold sent again
        (perhaps never sent before the last owner stopped). Returns (customers tracked, items sent)."""
        self.scheduler.index.clear()
        tracked = resent = 0
        for record, outbox in self.customers.records_in(partitions):
            partition = self.customers.partition_of(record.customer_id)
            if outbox:
                self.outbox.keep(record.customer_id, outbox)
                for item in outbox:
                    self._send(partition, record.customer_id, item)
                resent += len(outbox)
            check = self._next_check(record)
            self.scheduler.track(record.customer_id, partition, check)
            tracked += check is not None
        return tracked, resent

    def _next_check(self, record: CustomerRecord) -> datetime | None:
        return next_check_at(record, self.confirm_within, self.kept_after_finished)

    def forget_partitions(self, partitions: Collection[int]) -> None:
        self.scheduler.index.drop_partitions(partitions)
        self.outbox.forget_partitions(partitions)
