"""An alarm went off, or more of its media was stored (rule R1, and the holds that were waiting)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from handlers.after_end import on_event_after_end
from handlers.audit import AuditType
from handlers.contract_end import apply_contract_end
from handlers.events import AlarmTriggered, MediaStored
from handlers.holds import accepted_record, repeat_answer
from handlers.policy import Change, Outcome, RetentionPolicy, in_the_future, record, settle
from handlers.state import AlarmState, MediaObject


def on_alarm_event(
    state: AlarmState | None,
    event: AlarmTriggered | MediaStored,
    now: datetime,
    policy: RetentionPolicy,
    contract_ended: tuple[datetime, str] | None = None,
    *,
    deletions_allowed: bool = True,
) -> Outcome:
    """`contract_ended` is (ended_at, event_id) when the customer's contract has already ended;
    `deletions_allowed` as in `settle`."""
    current = state or AlarmState(alarm_id=event.alarm_id)
    if in_the_future(event.triggered_at, now, policy):
        return Outcome(
            current, rejection=f"triggered_at lies more than {policy.max_clock_skew} in the future"
        )
    if current.ended:
        return on_event_after_end(current, event, now)

    change = Change(state, current, event.event_id)
    first_account = not current.known
    if first_account:
        change.state = replace(current, customer_id=event.customer_id, triggered_at=event.triggered_at)
    else:
        conflicts = _conflicting_fields(current, event)
        if conflicts:
            # The first account of the alarm stands; the media of this one is still kept track of,
            # so that it is deleted rather than forgotten.
            change.audit.append(
                record(
                    AuditType.CONFLICTING_EVENT,
                    current,
                    now,
                    event.event_id,
                    details={"fields": ",".join(conflicts), "kept": "first recorded values"},
                )
            )

    known = {m.ref for m in change.state.media}
    new_media = []
    for ref in event.media:
        if (ref.bucket, ref.key) not in known:
            known.add((ref.bucket, ref.key))
            new_media.append(MediaObject(bucket=ref.bucket, key=ref.key, added_by=event.event_id))
    change.state = replace(change.state, media=change.state.media + tuple(new_media))

    if first_account:
        _answer_waiting_holds(change, now, policy)
    elif not new_media:
        # The same event again: repeat the answers it gave waiting holds (their first publication may
        # have been lost in a crash), with the same audit ids.
        for hold in current.holds:
            if hold.answered_by == event.event_id:
                change.audit.extend(repeat_answer(current, hold, now, event.event_id, policy))
    if contract_ended is not None and change.state.contract_ended_at is None:
        # The contract ended before we heard of this alarm: its media goes now (unless held).
        ended_at, ended_by = contract_ended
        apply_contract_end(change, ended_at, ended_by, now, policy)
    return settle(change, now, policy, deletions_allowed=deletions_allowed)


def _answer_waiting_holds(change: Change, now: datetime, policy: RetentionPolicy) -> None:
    """Holds that arrived before their alarm: accepted now, unless the hold limit has already passed."""
    state = change.state
    assert state.triggered_at is not None
    limit = state.triggered_at + policy.hold_retention
    for hold in state.active_holds:
        if now >= limit:
            hold = replace(hold, rejected_reason="retention_limit_passed", answered_by=change.cause)
            change.audit.append(
                record(
                    AuditType.HOLD_REJECTED,
                    state,
                    now,
                    change.cause,
                    hold=hold,
                    details={"reason": "retention_limit_passed", "limit": limit.isoformat()},
                )
            )
        else:
            change.audit.append(accepted_record(state, hold, limit, now, change.cause, waited=True))
            hold = replace(hold, answered_by=change.cause)
        state = state.with_hold(hold)
    change.state = state


def _conflicting_fields(state: AlarmState, event: AlarmTriggered | MediaStored) -> list[str]:
    conflicts = []
    if state.customer_id not in (None, event.customer_id):
        conflicts.append("customer_id")
    if state.triggered_at != event.triggered_at:
        conflicts.append("triggered_at")
    return conflicts
