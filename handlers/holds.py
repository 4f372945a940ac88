"""Rule R2: police holds keep an alarm's media up to the hold limit, and every hold gets an answer.

Answers: `hold.accepted`, `hold.rejected` (too late: the media is already being deleted, or the hold
limit has passed) or, for a hold whose alarm never arrives, `hold.waiting_for_alarm` and then either
`hold.accepted` or `hold.dropped`. Releases, duplicates and reorderings change nothing wrongly and are
recorded.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from handlers.after_end import on_event_after_end
from handlers.audit import AuditRecord, AuditType
from handlers.events import HoldPlaced, HoldReleased
from handlers.policy import Change, Outcome, RetentionPolicy, hold_limit, in_the_future, record, settle
from handlers.state import AlarmState, Hold, MediaStatus


def on_hold_placed(
    state: AlarmState | None,
    event: HoldPlaced,
    now: datetime,
    policy: RetentionPolicy,
    *,
    deletions_allowed: bool = True,
) -> Outcome:
    current = state or AlarmState(alarm_id=event.alarm_id)
    if in_the_future(event.placed_at, now, policy):
        return Outcome(current, rejection=f"placed_at lies more than {policy.max_clock_skew} in the future")
    if current.ended:
        return on_event_after_end(current, event, now)
    existing = current.find_hold(event.hold_id)
    change = Change(state, current, event.event_id)

    if existing is not None and existing.placed:
        if existing.placed_event_id != event.event_id:
            change.audit.append(_duplicate(current, existing, now, event.event_id, "placed"))
        else:
            # The same event again: after a crash its answer may never have reached the audit topic
            # (at-least-once, no transactions), so it is published again, with the same audit id.
            change.audit.extend(repeat_answer(current, existing, now, event.event_id, policy))
        return settle(change, now, policy, deletions_allowed=deletions_allowed)

    hold = replace(
        existing or Hold(hold_id=event.hold_id),
        case_reference=event.case_reference,
        unit=event.unit,
        placed_by=event.placed_by,
        requested_by=event.requested_by,
        placed_at=event.placed_at,
        placed_event_id=event.event_id,
        recorded_at=now,
    )
    if hold.released_at is not None:
        # Its release arrived first: the police already let go of it.
        hold = replace(hold, rejected_reason="already_released", answered_by=event.event_id)
        change.audit.append(
            _answer(AuditType.HOLD_REJECTED, current, hold, now, event.event_id, reason="already_released")
        )
    elif not current.known:
        change.audit.append(
            record(
                AuditType.HOLD_WAITING,
                current,
                now,
                event.event_id,
                hold=hold,
                details={"waits_until": (event.placed_at + policy.hold_retention).isoformat()},
            )
        )
    else:
        hold = _accept_or_reject(change, hold, now, policy)
    change.state = change.state.with_hold(hold)
    return settle(change, now, policy, deletions_allowed=deletions_allowed)


def _accept_or_reject(change: Change, hold: Hold, now: datetime, policy: RetentionPolicy) -> Hold:
    state = change.state
    limit = hold_limit(state, policy)
    assert limit is not None
    cause = change.cause
    if now >= limit:
        change.audit.append(
            _answer(
                AuditType.HOLD_REJECTED, state, hold, now, cause, reason="retention_limit_passed", limit=limit
            )
        )
        return replace(hold, rejected_reason="retention_limit_passed", answered_by=cause)
    if state.media and not state.pending:
        # Deletion already began (or finished): too late to keep anything. Say when.
        gone = [
            m.deleted_at or m.deletion_started_at for m in state.media if m.status is not MediaStatus.PENDING
        ]
        when = max(t for t in gone if t is not None)
        change.audit.append(
            _answer(
                AuditType.HOLD_REJECTED,
                state,
                hold,
                now,
                cause,
                reason="media_already_deleted",
                deleted_at=when,
            )
        )
        return replace(hold, rejected_reason="media_already_deleted", answered_by=cause)
    change.audit.append(accepted_record(state, hold, limit, now, cause))
    return replace(hold, answered_by=cause)


def repeat_answer(
    state: AlarmState, hold: Hold, now: datetime, cause: str, policy: RetentionPolicy
) -> list[AuditRecord]:
    """The answer the event `cause` gave this hold, again (the audit id depends only on the cause)."""
    limit = hold_limit(state, policy)
    if hold.answered_by == cause:
        if hold.rejected_reason is not None:
            return [_answer(AuditType.HOLD_REJECTED, state, hold, now, cause, reason=hold.rejected_reason)]
        if limit is not None:
            waited = hold.placed_event_id != cause
            return [accepted_record(state, hold, limit, now, cause, waited=waited)]
    if hold.answered_by is None and hold.active and not state.known and hold.placed_event_id == cause:
        assert hold.placed_at is not None
        waits_until = (hold.placed_at + policy.hold_retention).isoformat()
        return [
            record(AuditType.HOLD_WAITING, state, now, cause, hold=hold, details={"waits_until": waits_until})
        ]
    return []


def accepted_record(
    state: AlarmState, hold: Hold, limit: datetime, now: datetime, cause: str, *, waited: bool = False
) -> AuditRecord:
    details = {
        "kept_until": limit.isoformat(),
        "case_reference": hold.case_reference or "",
        "placed_by": hold.placed_by or "",
        "objects_kept": str(len(state.pending)),
    }
    if hold.requested_by:
        details["requested_by"] = hold.requested_by
    if hold.unit:
        details["unit"] = hold.unit
    if state.deleting:
        details["objects_already_being_deleted"] = str(len(state.deleting))
    if waited:
        details["waited_for_alarm"] = "true"
    return record(AuditType.HOLD_ACCEPTED, state, now, cause, hold=hold, deadline=limit, details=details)


def on_hold_released(
    state: AlarmState | None,
    event: HoldReleased,
    now: datetime,
    policy: RetentionPolicy,
    *,
    deletions_allowed: bool = True,
) -> Outcome:
    current = state or AlarmState(alarm_id=event.alarm_id)
    if in_the_future(event.released_at, now, policy):
        return Outcome(current, rejection=f"released_at lies more than {policy.max_clock_skew} in the future")
    if current.ended:
        return on_event_after_end(current, event, now)
    existing = current.find_hold(event.hold_id)
    change = Change(state, current, event.event_id)

    if existing is not None and existing.released_at is not None:
        if existing.released_event_id != event.event_id:
            change.audit.append(_duplicate(current, existing, now, event.event_id, "released"))
        return settle(change, now, policy, deletions_allowed=deletions_allowed)

    hold = replace(
        existing or Hold(hold_id=event.hold_id),
        released_at=event.released_at,
        released_by=event.released_by,
        released_event_id=event.event_id,
        recorded_at=now,
    )
    if existing is not None and existing.active and not current.known:
        # Released while still waiting for its alarm: it never kept anything, and now never will.
        hold = replace(hold, dropped_at=now)
        change.audit.append(
            record(
                AuditType.HOLD_DROPPED,
                current,
                now,
                event.event_id,
                hold=hold,
                details={"reason": "released_before_alarm_seen", "released_by": event.released_by},
            )
        )
    elif existing is None or not existing.placed:
        # A release of a hold we have not seen placed: remembered, so a late placement stays inactive.
        change.audit.append(
            record(
                AuditType.HOLD_RELEASE_UNMATCHED,
                current,
                now,
                event.event_id,
                hold=hold,
                details={"released_by": event.released_by, "note": "no such hold placed yet; remembered"},
            )
        )
    else:
        details = {
            **({"requested_by": event.requested_by} if event.requested_by else {}),
            "released_by": event.released_by,
            "was_active": str(existing.active).lower(),
            "holds_still_active": str(len(current.active_holds) - int(existing.active)),
        }
        change.audit.append(
            record(AuditType.HOLD_RELEASED, current, now, event.event_id, hold=hold, details=details)
        )
    change.state = current.with_hold(hold)
    return settle(change, now, policy, deletions_allowed=deletions_allowed)


def _answer(
    type: AuditType,
    state: AlarmState,
    hold: Hold,
    now: datetime,
    cause: str,
    *,
    reason: str,
    deleted_at: datetime | None = None,
    limit: datetime | None = None,
) -> AuditRecord:
    details = {"reason": reason}
    if deleted_at is not None:
        details["deleted_at"] = deleted_at.isoformat()
    if limit is not None:
        details["limit"] = limit.isoformat()
    return record(type, state, now, cause, hold=hold, details=details)


def _duplicate(state: AlarmState, hold: Hold, now: datetime, cause: str, what: str) -> AuditRecord:
    return record(
        AuditType.HOLD_DUPLICATE,
        state,
        now,
        cause,
        hold=hold,
        details={"note": f"hold already {what} by another event; nothing changed"},
    )
