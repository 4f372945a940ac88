"""Rule R3: when the customer's contract ends, the customer's media goes, unless the police hold it."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from handlers.audit import AuditRecord, AuditType, audit_record
from handlers.policy import Change, Outcome, RetentionPolicy, hold_limit, record, settle
from handlers.state import AlarmState


def on_contract_ended(
    state: AlarmState | None,
    ended_at: datetime,
    cause: str,
    now: datetime,
    policy: RetentionPolicy,
    *,
    deletions_allowed: bool = True,
) -> Outcome | None:
    """The contract of this alarm's customer ended at `ended_at` (the event `cause` said so)."""
    if state is None or state.ended:
        return None
    if state.contract_ended_at is not None and state.contract_ended_at <= ended_at:
        return Outcome(state)  # known already (a redelivery, or a later duplicate): the earliest end stands
    change = Change(state, state, cause)
    apply_contract_end(change, ended_at, cause, now, policy)
    return settle(change, now, policy, deletions_allowed=deletions_allowed)


def apply_contract_end(
    change: Change, ended_at: datetime, cause: str, now: datetime, policy: RetentionPolicy
) -> None:
    state = replace(change.state, contract_ended_at=ended_at, contract_ended_by=cause)
    held = state.active_holds
    details = {"ended_at": ended_at.isoformat(), "pending_objects": str(len(state.pending))}
    if held and state.pending:
        # GDPR Art. 17(3): kept for a legal obligation; the record says which holds and until when.
        limit = hold_limit(state, policy)
        details["kept_for_holds"] = ",".join(h.hold_id for h in held)
        if limit is not None:
            details["kept_at_most_until"] = limit.isoformat()
    change.audit.append(record(AuditType.CONTRACT_ENDED, state, now, cause, details=details))
    change.state = state


def receive_contract_end(customer_id: str, ended_at: datetime, cause: str, now: datetime) -> AuditRecord:
    """The customer-level record that the end was received. An end in the future is fine: the media
    goes at `ended_at`, which can only bring a deadline forward, never push it back."""
    return audit_record(
        AuditType.CONTRACT_END_RECEIVED,
        occurred_at=now,
        alarm_id=None,
        customer_id=customer_id,
        caused_by=cause,
        details={"ended_at": ended_at.isoformat()},
    )
