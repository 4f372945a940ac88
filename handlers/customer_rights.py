"""The customer's rights over alarm media (GDPR Art. 15, 17, 18 and 20).

An erasure request deletes the customer's media now, except media a police hold keeps (Art. 17(3):
needed for a legal claim or obligation); the answer names what was kept, why, and until when. A
restriction marks the media: the service never does anything to it but delete it on time, or keep it
for the police (Art. 18(2)); the mark is shown wherever the media is. An access request is answered
with everything kept about the customer here and the schedule of their other data, as JSON that is
also the export for portability.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from handlers.audit import AuditType
from handlers.erasure import CustomerRecord
from handlers.policy import Change, Outcome, RetentionPolicy, hold_limit, record, settle
from handlers.state import AlarmState, MediaObject, MediaStatus

KEPT_FOR_POLICE = (
    "kept for a police investigation (GDPR Art. 17(3)(b) and (e)); deleted when the hold ends, "
    "at the latest on kept_until"
)


def on_erasure_requested(
    state: AlarmState | None,
    requested_at: datetime,
    cause: str,
    now: datetime,
    policy: RetentionPolicy,
    *,
    deletions_allowed: bool = True,
) -> Outcome | None:
    if state is None or state.ended:
        return None
    if state.erasure_requested_at is not None and state.erasure_requested_at <= requested_at:
        return Outcome(state)  # a redelivery, or a later repeat: the first request stands
    change = Change(
        state, replace(state, erasure_requested_at=requested_at, erasure_requested_by=cause), cause
    )
    details = {"requested_at": requested_at.isoformat(), "pending_objects": str(len(state.pending))}
    if state.active_holds and state.pending:
        limit = hold_limit(state, policy)
        details["kept_for_holds"] = ",".join(h.hold_id for h in state.active_holds)
        if limit is not None:
            details["kept_at_most_until"] = limit.isoformat()
    change.audit.append(record(AuditType.ERASURE_REQUESTED, change.state, now, cause, details=details))
    return settle(change, now, policy, deletions_allowed=deletions_allowed)


def on_restriction_requested(
    state: AlarmState | None,
    requested_at: datetime,
    cause: str,
    now: datetime,
    policy: RetentionPolicy,
    *,
    deletions_allowed: bool = True,
) -> Outcome | None:
    if state is None or state.ended:
        return None
    if state.restricted_at is not None:
        return Outcome(state)
    change = Change(state, replace(state, restricted_at=requested_at, restricted_by=cause), cause)
    change.audit.append(
        record(AuditType.RESTRICTED, change.state, now, cause, media=state.pending, details={
            "requested_at": requested_at.isoformat()})
    )  # fmt: skip
    return settle(change, now, policy, deletions_allowed=deletions_allowed)


# --- answers --------------------------------------------------------------------------------------


class _Answer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MediaItem(_Answer):
    alarm_id: str
    bucket: str
    key: str
    alarm_at: datetime | None
    status: Literal["kept", "being_deleted", "deleted"]
    deadline: datetime | None  # when it goes (for kept media)
    rule: str | None  # which promise sets that deadline
    kept_for_police: bool
    kept_until: datetime | None  # the latest it may be kept, while held
    restricted: bool
    deleted_at: datetime | None


class OtherData(_Answer):
    rule: str
    category: str
    system: str
    action: Literal["delete", "anonymise"]
    due_at: datetime
    status: Literal["scheduled", "commanded", "done"]


class ServiceRecords(_Answer):
    """What the service's own audit trail holds of the customer (their customer number and the names of
    their objects, encrypted under their key): kept until when, or erased when."""

    what: str
    kept_until: datetime | None
    erased_at: datetime | None


class Disclosed(_Answer):
    """Media of the customer's handed over to a third party (GDPR Art. 15(1)(c))."""

    handover_id: str
    alarm_id: str
    objects: list[str]  # the objects' keys
    recipient: str  # the category of recipient
    unit: str | None
    disclosed_at: datetime
    legal_basis: str


AUDIT_FIELDS = "your customer number and the names of your images and videos in our audit records"


class RequestAnswered(_Answer):
    """The outcome of a customer's request, on `customer-request-outcomes`, keyed by customer."""

    type: Literal["request.answered"] = "request.answered"
    request_id: str
    customer_id: str
    kind: Literal["access", "erasure", "restriction"]
    answered_at: datetime
    media: list[MediaItem]  # access: everything; erasure: what is being deleted now; restriction: marked
    kept: list[MediaItem] = []  # erasure: what is kept, and why
    kept_because: str | None = None
    other_data: list[OtherData] = []  # access: the schedule of the customer's data in other systems
    service_records: list[ServiceRecords] = []  # access: the service's own records of the customer
    disclosures: list[Disclosed] = []  # access: what of the customer's media was handed over, to whom
    note: str | None = None


def _item(state: AlarmState, media: MediaObject, policy: RetentionPolicy) -> MediaItem:
    held = bool(state.active_holds) and media.status is MediaStatus.PENDING
    status = {
        MediaStatus.PENDING: "kept",
        MediaStatus.DELETING: "being_deleted",
        MediaStatus.DELETED: "deleted",
    }
    return MediaItem(
        alarm_id=state.alarm_id,
        bucket=media.bucket,
        key=media.key,
        alarm_at=state.triggered_at,
        status=status[media.status],  # type: ignore[arg-type]
        deadline=state.deadline if media.status is MediaStatus.PENDING else media.due_at,
        rule=(state.deadline_rule if media.status is MediaStatus.PENDING else media.due_rule) or None,
        kept_for_police=held,
        kept_until=hold_limit(state, policy) if held else None,
        restricted=state.restricted_at is not None,
        deleted_at=media.deleted_at,
    )


def _items(states: Iterable[AlarmState], policy: RetentionPolicy) -> list[MediaItem]:
    return [_item(s, m, policy) for s in sorted(states, key=lambda s: s.alarm_id) for m in s.media]


def answer_access(
    request_id: str,
    customer_id: str,
    states: Iterable[AlarmState],
    other: CustomerRecord | None,
    now: datetime,
    policy: RetentionPolicy,
    audit_fields: ServiceRecords | None = None,
    recorded_disclosures: Iterable[Disclosed] = (),
) -> RequestAnswered:
    """`recorded_disclosures`: those the audit trail records (the archive), for alarms whose record
    has ended since; the states' own are listed too, each once."""
    states = list(states)
    other_data = [
        OtherData(
            rule=e.rule,
            category=e.category,
            system=e.system,
            action=e.action,
            due_at=e.due_at,
            status="done" if e.confirmed_at else ("commanded" if e.sent_at else "scheduled"),
        )
        for e in (other.erasures if other else ())
    ]
    return RequestAnswered(
        request_id=request_id,
        customer_id=customer_id,
        kind="access",
        answered_at=now,
        media=_items(states, policy),
        other_data=other_data,
        service_records=[audit_fields] if audit_fields is not None else [],
        disclosures=_disclosures(states, recorded_disclosures),
        note="other_data lists only what is scheduled for erasure; the systems holding it answer for "
        "its content",
    )


def answer_erasure(
    request_id: str, customer_id: str, states: Iterable[AlarmState], now: datetime, policy: RetentionPolicy
) -> RequestAnswered:
    """What the request does: the same rule the alarms' partitions apply (held media stays)."""
    items = [i for i in _items(states, policy) if i.status == "kept"]
    erased = [i.model_copy(update={"status": "being_deleted", "deadline": now, "rule": "Art17"})
              for i in items if not i.kept_for_police]  # fmt: skip
    kept = [i for i in items if i.kept_for_police]
    return RequestAnswered(
        request_id=request_id,
        customer_id=customer_id,
        kind="erasure",
        answered_at=now,
        media=erased,
        kept=kept,
        kept_because=KEPT_FOR_POLICE if kept else None,
        note="this request covers alarm media; the customer's other data follows the retention schedule",
    )


def answer_restriction(
    request_id: str, customer_id: str, states: Iterable[AlarmState], now: datetime, policy: RetentionPolicy
) -> RequestAnswered:
    marked = [i.model_copy(update={"restricted": True}) for i in _items(states, policy) if i.status == "kept"]
    return RequestAnswered(
        request_id=request_id,
        customer_id=customer_id,
        kind="restriction",
        answered_at=now,
        media=marked,
        note="restricted media is only deleted on time, or kept for the police (GDPR Art. 18(2))",
    )


def _disclosures(states: Iterable[AlarmState], recorded: Iterable[Disclosed]) -> list[Disclosed]:
    found = {
        d.handover_id: Disclosed(
            handover_id=d.handover_id,
            alarm_id=s.alarm_id,
            objects=sorted({key for _, key in d.objects}),
            recipient=d.recipient,
            unit=d.unit,
            disclosed_at=d.disclosed_at,
            legal_basis=d.legal_basis,
        )
        for s in states
        for d in s.disclosures
    }
    for d in recorded:
        found.setdefault(d.handover_id, d)
    return sorted(found.values(), key=lambda d: (d.disclosed_at, d.handover_id))
