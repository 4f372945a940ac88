"""Erasure commands for the data other systems hold (R3-R8): when each is due, sending it, and noticing
when a system does not confirm.

Per customer, a list of erasures, one per rule (and per call recording for R8). When one falls due the
shell sends `erasure.due` to the system named by the schedule; the system answers `erasure.completed`
with the command's id. A command not confirmed within `confirm_within` is flagged (audit, metric,
dashboard) and sent again, with the same id, until it is. Pure: time comes in as an argument.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, TypeAdapter

from handlers.audit import AuditRecord, AuditType, audit_record
from handlers.events import CallRecorded, ErasureCompleted
from handlers.schedule import Schedule, ScheduleRule

_COMMAND_NAMESPACE = uuid.UUID("0f4d5c59-1b7e-4a57-9b1f-8e7f2c8a6d21")
CUSTOMER_FORMAT = 1


@dataclass(frozen=True, slots=True)
class Erasure:
    command_id: str  # derived from customer, rule, subject and cause: a redelivered event adds nothing
    rule: str
    category: str
    action: Literal["delete", "anonymise"]
    system: str
    due_at: datetime
    cause: str  # event_id of the event that started the clock
    subject: str | None = None  # the recording, for R8
    sent_at: datetime | None = None  # last time the command was sent
    attempts: int = 0
    flagged_at: datetime | None = None  # first time it went unconfirmed past the window
    confirmed_at: datetime | None = None

    @property
    def open(self) -> bool:
        return self.confirmed_at is None

    @property
    def status(self) -> Literal["scheduled", "sent", "unconfirmed", "confirmed"]:
        if self.confirmed_at is not None:
            return "confirmed"
        if self.flagged_at is not None:
            return "unconfirmed"
        return "sent" if self.sent_at is not None else "scheduled"


@dataclass(frozen=True, slots=True)
class CustomerRecord:
    customer_id: str
    erasures: tuple[Erasure, ...] = ()
    # When the last of its erasures was confirmed (the service's clock). The record is forgotten
    # `kept_after_finished` later (schedule row S3): until then a redelivered confirmation finds it.
    finished_at: datetime | None = None

    def find(self, command_id: str) -> Erasure | None:
        for erasure in self.erasures:
            if erasure.command_id == command_id:
                return erasure
        return None

    def with_erasure(self, erasure: Erasure) -> CustomerRecord:
        others = tuple(e for e in self.erasures if e.command_id != erasure.command_id)
        return replace(self, erasures=tuple(sorted((*others, erasure), key=lambda e: (e.due_at, e.rule))))

    @property
    def unconfirmed(self) -> tuple[Erasure, ...]:
        """Sent, flagged for want of a confirmation, still not confirmed."""
        return tuple(e for e in self.erasures if e.open and e.flagged_at is not None)


class ErasureDue(BaseModel):
    """The command another system receives on `erasure-commands`, keyed by customer."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["erasure.due"] = "erasure.due"
    command_id: str
    customer_id: str
    rule: str
    category: str
    action: Literal["delete", "anonymise"]
    system: str
    due_at: datetime
    subject: str | None = None
    attempt: int
    sent_at: datetime


@dataclass(frozen=True)
class CustomerOutcome:
    record: CustomerRecord
    audit: tuple[AuditRecord, ...] = ()
    commands: tuple[ErasureDue, ...] = ()
    forget: bool = False  # the record's work is done and its time is up: remove it (a tombstone)


# Schedule row S3's default: how long a customer's record is kept once its last erasure is confirmed.
KEPT_AFTER_FINISHED = timedelta(days=30)


def finished_since(record: CustomerRecord) -> datetime | None:
    """When the record's last erasure was confirmed. A record finished before records had an end has no
    `finished_at`: then the latest confirmation's time stands in for it."""
    if record.finished_at is not None or not record.erasures or any(e.open for e in record.erasures):
        return record.finished_at
    return max(e.confirmed_at for e in record.erasures if e.confirmed_at is not None)


def _finished(record: CustomerRecord, now: datetime) -> CustomerRecord:
    """The record with `finished_at` set when nothing is open any more, cleared when something is."""
    done = not any(e.open for e in record.erasures)
    if done and record.finished_at is None:
        return replace(record, finished_at=now)
    if not done and record.finished_at is not None:
        return replace(record, finished_at=None)
    return record


def command_id(customer_id: str, rule: str, subject: str | None, cause: str) -> str:
    return str(uuid.uuid5(_COMMAND_NAMESPACE, "|".join([customer_id, rule, subject or "", cause])))


def _schedule(
    record: CustomerRecord,
    rule: ScheduleRule,
    due_at: datetime,
    cause: str,
    subject: str | None,
    now: datetime,
) -> tuple[CustomerRecord, AuditRecord | None]:
    """Add one erasure, unless one for the same rule and subject already covers it: then an earlier
    due time wins (a second contract end cannot push erasure later)."""
    for existing in record.erasures:
        if existing.rule == rule.id and existing.subject == subject and existing.open:
            if due_at >= existing.due_at or existing.sent_at is not None:
                return record, None
            record = record.with_erasure(replace(existing, due_at=due_at, cause=cause))
            return record, _scheduled_audit(record.customer_id, rule, due_at, cause, subject, now)
    command = command_id(record.customer_id, rule.id, subject, cause)
    if any(
        e.rule == rule.id and e.subject == subject and (e.cause == cause or e.command_id == command)
        for e in record.erasures
    ):
        # The same event again, already done: the erasure it made (its command id says so, even after a
        # later event moved it and became its cause) or the one it last moved.
        return record, None
    erasure = Erasure(
        command_id=command,
        rule=rule.id,
        category=rule.category,
        action=rule.action,
        system=rule.system,
        due_at=due_at,
        cause=cause,
        subject=subject,
    )
    return record.with_erasure(erasure), _scheduled_audit(
        record.customer_id, rule, due_at, cause, subject, now
    )


def _scheduled_audit(
    customer_id: str, rule: ScheduleRule, due_at: datetime, cause: str, subject: str | None, now: datetime
) -> AuditRecord:
    details = {"category": rule.category, "action": rule.action, "system": rule.system}
    if subject:
        details["subject"] = subject
    return audit_record(
        AuditType.ERASURE_SCHEDULED,
        occurred_at=now,
        alarm_id=None,
        customer_id=customer_id,
        caused_by=cause,
        deadline=due_at,
        rule=rule.id,
        details=details,
    )


def on_contract_ended(
    previous: CustomerRecord | None,
    customer_id: str,
    ended_at: datetime,
    event_id: str,
    schedule: Schedule,
    now: datetime,
) -> CustomerOutcome:
    record = previous or CustomerRecord(customer_id)
    audit: list[AuditRecord] = []
    for rule in schedule.started_by("contract.ended"):
        record, scheduled = _schedule(record, rule, rule.due_at(ended_at, schedule.tz), event_id, None, now)
        if scheduled is not None:
            audit.append(scheduled)
    return CustomerOutcome(_finished(record, now), tuple(audit))


def on_call_recorded(
    previous: CustomerRecord | None, event: CallRecorded, schedule: Schedule, now: datetime
) -> CustomerOutcome:
    record = previous or CustomerRecord(event.customer_id)
    audit: list[AuditRecord] = []
    for rule in schedule.started_by("call.recorded"):
        due = rule.due_at(event.recorded_at, schedule.tz, consent=event.consent)
        record, scheduled = _schedule(record, rule, due, event.event_id, event.recording_id, now)
        if scheduled is not None:
            audit.append(scheduled)
    return CustomerOutcome(_finished(record, now), tuple(audit))


def on_time_passed(
    record: CustomerRecord,
    now: datetime,
    confirm_within: timedelta,
    cause: str,
    kept_after_finished: timedelta = KEPT_AFTER_FINISHED,
) -> CustomerOutcome:
    """Send what fell due; send again, and flag, what was not confirmed in time; forget a finished
    record once its time is up."""
    finished = finished_since(record)
    if finished is not None and now >= finished + kept_after_finished:
        return CustomerOutcome(record, forget=True)
    audit: list[AuditRecord] = []
    commands: list[ErasureDue] = []
    for erasure in record.erasures:
        if not erasure.open:
            continue
        first = erasure.sent_at is None and erasure.due_at <= now
        again = erasure.sent_at is not None and now >= erasure.sent_at + confirm_within
        if not (first or again):
            continue
        sent = replace(
            erasure,
            sent_at=now,
            attempts=erasure.attempts + 1,
            flagged_at=erasure.flagged_at or (now if again else None),
        )
        record = record.with_erasure(sent)
        commands.append(_command(record.customer_id, sent))
        audit.append(_sent_audit(record.customer_id, sent, now, cause, unconfirmed=again))
    return CustomerOutcome(record, tuple(audit), tuple(commands))


def _command(customer_id: str, erasure: Erasure) -> ErasureDue:
    assert erasure.sent_at is not None
    return ErasureDue(
        command_id=erasure.command_id,
        customer_id=customer_id,
        rule=erasure.rule,
        category=erasure.category,
        action=erasure.action,
        system=erasure.system,
        due_at=erasure.due_at,
        subject=erasure.subject,
        attempt=erasure.attempts,
        sent_at=erasure.sent_at,
    )


def _sent_audit(
    customer_id: str, erasure: Erasure, now: datetime, cause: str, *, unconfirmed: bool
) -> AuditRecord:
    details = {
        "command_id": erasure.command_id,
        "category": erasure.category,
        "system": erasure.system,
        "attempt": str(erasure.attempts),
    }
    return audit_record(
        AuditType.ERASURE_UNCONFIRMED if unconfirmed else AuditType.ERASURE_SENT,
        occurred_at=now,
        alarm_id=None,
        customer_id=customer_id,
        caused_by=f"{cause}/{erasure.command_id}",
        deadline=erasure.due_at,
        rule=erasure.rule,
        details=details,
        occurrence=str(erasure.attempts),
    )


def on_erasure_completed(
    previous: CustomerRecord | None, event: ErasureCompleted, now: datetime
) -> CustomerOutcome:
    record = previous or CustomerRecord(event.customer_id)
    erasure = record.find(event.command_id)
    details = {"command_id": event.command_id, "system": event.system}
    if erasure is None or erasure.system != event.system:
        reason = "unknown command" if erasure is None else f"the command is for {erasure.system}"
        unmatched = audit_record(
            AuditType.ERASURE_CONFIRMATION_UNMATCHED,
            occurred_at=now,
            alarm_id=None,
            customer_id=event.customer_id,
            caused_by=event.event_id,
            details={**details, "reason": reason},
        )
        # Nothing to keep for a customer the service holds nothing for: recorded, not remembered.
        return CustomerOutcome(record, (unmatched,), forget=previous is None)
    if not erasure.open:
        return CustomerOutcome(record)  # a repeated confirmation
    done = replace(erasure, confirmed_at=event.completed_at)
    lateness = (event.completed_at - erasure.due_at).total_seconds()
    confirmed = audit_record(
        AuditType.ERASURE_CONFIRMED,
        occurred_at=now,
        alarm_id=None,
        customer_id=event.customer_id,
        caused_by=event.event_id,
        deadline=erasure.due_at,
        rule=erasure.rule,
        details={**details, "category": erasure.category, "attempts": str(erasure.attempts),
                 "lateness_seconds": f"{lateness:.3f}"},
    )  # fmt: skip
    return CustomerOutcome(_finished(record.with_erasure(done), now), (confirmed,))


def next_check_at(
    record: CustomerRecord, confirm_within: timedelta, kept_after_finished: timedelta = KEPT_AFTER_FINISHED
) -> datetime | None:
    finished = finished_since(record)
    if finished is not None:
        return finished + kept_after_finished
    moments = [
        e.due_at if e.sent_at is None else e.sent_at + confirm_within for e in record.erasures if e.open
    ]
    return min(moments, default=None)


# --- the changelog format -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Stored:
    v: int
    record: CustomerRecord
    # What the record's decisions sent that its topics may not have yet (the outbox): written with the
    # record in one changelog record, so a crash cannot keep the record and lose them. Cleared by a
    # later write once acknowledged (streams/worker/outbox.py).
    outbox: tuple[AuditRecord, ...] = ()
    commands: tuple[ErasureDue, ...] = ()


_STORED = TypeAdapter(_Stored)
Unsent = AuditRecord | ErasureDue  # what a customer's outbox holds


def encode_customer(record: CustomerRecord, outbox: Collection[Unsent] = ()) -> bytes:
    audit = tuple(item for item in outbox if isinstance(item, AuditRecord))
    commands = tuple(item for item in outbox if isinstance(item, ErasureDue))
    stored = _Stored(CUSTOMER_FORMAT, record, audit, commands)
    return _STORED.dump_json(stored, exclude_defaults=True)


def decode_customer(raw: bytes) -> CustomerRecord:
    return decode_stored_customer(raw)[0]


def decode_stored_customer(raw: bytes) -> tuple[CustomerRecord, tuple[Unsent, ...]]:
    """The record and its outbox."""
    stored = _STORED.validate_json(raw)
    if stored.v != CUSTOMER_FORMAT:
        raise ValueError(f"unknown customer record format {stored.v!r}")
    return stored.record, (*stored.outbox, *stored.commands)
