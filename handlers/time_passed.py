"""What the passing of time alone changes: deadlines reached, hold warnings, hold limits, waiting holds."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from handlers.after_end import on_time_passed_after_end
from handlers.audit import AuditType
from handlers.policy import Change, Outcome, RetentionPolicy, hold_limit, record, settle
from handlers.state import AlarmState


def on_time_passed(
    state: AlarmState | None, now: datetime, cause: str, policy: RetentionPolicy
) -> Outcome | None:
    """The scheduler says a moment has come; the state decides whether anything is really due."""
    if state is None:
        return None
    if state.ended:
        return on_time_passed_after_end(state, now, policy)
    change = Change(state, state, cause)
    limit = hold_limit(state, policy)
    if limit is None:
        _drop_holds_whose_alarm_never_came(change, now, policy)
    elif state.active_holds:
        if now >= limit:
            _expire_holds(change, limit, now)
        elif not state.hold_warning_sent and now >= limit - policy.hold_expiry_warning:
            _warn_holds_expire(change, limit, now)
    return settle(change, now, policy)


def _drop_holds_whose_alarm_never_came(change: Change, now: datetime, policy: RetentionPolicy) -> None:
    state = change.state
    for hold in state.active_holds:
        assert hold.placed_at is not None
        if now >= hold.placed_at + policy.hold_retention:
            dropped = replace(hold, dropped_at=now)
            change.audit.append(
                record(
                    AuditType.HOLD_DROPPED,
                    state,
                    now,
                    change.cause,
                    hold=dropped,
                    details={"reason": "alarm_never_seen"},
                )
            )
            state = state.with_hold(dropped)
    change.state = state


def _expire_holds(change: Change, limit: datetime, now: datetime) -> None:
    state = change.state
    for hold in state.active_holds:
        expired = replace(hold, expired_at=limit)
        change.audit.append(
            record(
                AuditType.HOLD_EXPIRED,
                state,
                now,
                change.cause,
                hold=expired,
                deadline=limit,
                details={
                    "note": "the 30-day limit the privacy statement promises was reached; media deleted"
                },
            )
        )
        state = state.with_hold(expired)
    change.state = state


def _warn_holds_expire(change: Change, limit: datetime, now: datetime) -> None:
    state = change.state
    for hold in state.active_holds:
        change.audit.append(
            record(
                AuditType.HOLD_EXPIRING,
                state,
                now,
                change.cause,
                hold=hold,
                deadline=limit,
                details={
                    "expires_at": limit.isoformat(),
                    "case_reference": hold.case_reference or "",
                    "note": "collect the material before the hold limit; it is deleted then",
                },
            )
        )
    change.state = replace(state, hold_warning_sent=True)
