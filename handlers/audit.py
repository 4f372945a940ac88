"""The audit trail: one record per decision and per outcome, published on `retention-audit`.

A decision about several objects of an alarm (scheduling the five images of an alarm, say) is one
record listing them. Audit ids are derived from what caused the record (for `media.deleted`, from the
alarm and the objects), so a redelivered event produces the same ids and a reader can drop the
duplicates that at-least-once delivery brings.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

_AUDIT_NAMESPACE = uuid.UUID("5b0c7f64-8f0e-4c53-9d7e-2f0b7b0c9a11")


class AuditType(StrEnum):
    # About media objects (listed in `objects`)
    DELETION_SCHEDULED = "media.deletion_scheduled"  # a deadline was set or moved (rule and cause named)
    RETENTION_EXTENDED = "media.retention_extended"  # a police hold keeps them until the hold limit
    DELETED = "media.deleted"  # every version is gone; names the deadline and the lateness
    DELETED_AFTER_END = "media.deleted_after_end"  # named again after the alarm's record ended: gone
    DISCLOSED = "media.disclosed"  # handed over to the police for a hold: a disclosure (Art. 15(1)(c))
    # Per alarm
    CONFLICTING_EVENT = "alarm.conflicting_event"
    CONTRACT_ENDED = "alarm.contract_ended"  # the customer's contract end reached this alarm
    ERASURE_REQUESTED = "alarm.erasure_requested"  # the customer's erasure request reached this alarm
    RESTRICTED = "alarm.restricted"  # the customer's restriction request reached this alarm
    EVENT_AFTER_END = "alarm.event_after_end"  # an alarm event came after the alarm's record ended
    # Per hold: every hold gets an answer (accepted, rejected or dropped)
    HOLD_ACCEPTED = "hold.accepted"
    HOLD_WAITING = "hold.waiting_for_alarm"
    HOLD_REJECTED = "hold.rejected"
    HOLD_DROPPED = "hold.dropped"
    HOLD_RELEASED = "hold.released"
    HOLD_RELEASE_UNMATCHED = "hold.release_unmatched"
    HOLD_DUPLICATE = "hold.duplicate"
    HOLD_EXPIRING = "hold.expiring"
    HOLD_EXPIRED = "hold.expired"
    HOLD_SIGNATURE_REJECTED = "hold.signature_rejected"  # a hold event without a valid signature
    # Per customer
    CONTRACT_END_RECEIVED = "contract.end_received"
    REQUEST_ANSWERED = "customer.request_answered"  # access, erasure or restriction: what was answered
    # The reconciliation sweep (handlers/sweep.py)
    ORPHAN_DELETED = "media.orphan_deleted"  # in a media bucket, unknown, older than every promise
    SWEEP_ORPHAN_KEPT = "sweep.orphan_kept"  # such an object the store would not delete (e.g. locked)
    SWEEP_LEFT_BEHIND_DELETED = "sweep.left_behind_deleted"  # confirmed deleted, found, deleted again
    SWEEP_LEFT_BEHIND_KEPT = "sweep.left_behind_kept"
    SWEEP_OVERDUE_FOUND = "sweep.overdue_found"  # past its deadline: the stream was asked to act
    SWEEP_UNKNOWN_FOUND = "sweep.unknown_found"  # unknown and young: reported, kept
    SWEEP_COMPLETED = "sweep.completed"
    # Erasure commands to other systems (handlers/erasure.py), per customer
    ERASURE_SCHEDULED = "erasure.scheduled"  # a rule's clock started: due at `deadline`
    ERASURE_SENT = "erasure.sent"  # erasure.due sent to the system
    ERASURE_UNCONFIRMED = "erasure.unconfirmed"  # not confirmed in time: flagged and sent again
    ERASURE_CONFIRMED = "erasure.confirmed"
    ERASURE_CONFIRMATION_UNMATCHED = "erasure.confirmation_unmatched"


class ObjectRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    bucket: str
    key: str


class AuditRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    type: AuditType
    audit_id: str
    occurred_at: datetime
    alarm_id: str | None  # None only for customer-level records
    customer_id: str | None
    hold_id: str | None = None
    objects: tuple[ObjectRef, ...] = ()
    deadline: datetime | None = None
    rule: str | None = None
    caused_by: str  # event_id of the event (or internal command) that led to this record
    details: dict[str, str] = {}

    def to_json(self) -> bytes:
        return self.model_dump_json(exclude_defaults=True).encode("utf-8")

    def object_keys(self) -> list[str]:
        return [o.key for o in self.objects]


def audit_record(
    type: AuditType,
    *,
    occurred_at: datetime,
    alarm_id: str | None,
    customer_id: str | None,
    caused_by: str,
    hold_id: str | None = None,
    objects: Iterable[tuple[str, str]] = (),
    deadline: datetime | None = None,
    rule: str | None = None,
    details: dict[str, str] | None = None,
    occurrence: str = "",
) -> AuditRecord:
    """`occurrence` tells apart records alike in everything else that identifies them (below), such as
    the attempts of one erasure command."""
    refs = tuple(ObjectRef(bucket=bucket, key=key) for bucket, key in objects)
    # The id is the same when a crash and a redelivery make the same decision again, and differs
    # between any two decisions: what caused it and what it is about. Every record is about its
    # alarm, hold or objects (a sweep's records of objects no alarm claims, only about the objects);
    # a customer's own records (no alarm) also about the customer and one rule of the schedule. An
    # alarm's customer and rule are left out: a redelivery may find them set since. Objects are deleted
    # once, however many confirmations a crash and a takeover produce: their deletion record's id
    # depends on the objects, not the confirmation.
    cause = "" if type is AuditType.DELETED else caused_by
    listed = ",".join(sorted(f"{r.bucket}/{r.key}" for r in refs))
    about = [alarm_id or "", hold_id or "", listed]
    if not alarm_id and customer_id:
        about += [customer_id, rule or ""]
    identity = "|".join([type.value, cause, *about, *([occurrence] if occurrence else [])])
    return AuditRecord(
        type=type,
        audit_id=str(uuid.uuid5(_AUDIT_NAMESPACE, identity)),
        occurred_at=occurred_at,
        alarm_id=alarm_id,
        customer_id=customer_id,
        hold_id=hold_id,
        objects=refs,
        deadline=deadline,
        rule=rule,
        caused_by=caused_by,
        details=details or {},
    )
