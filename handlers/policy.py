"""The retention policy's shared core: when an alarm's media must go, and settling a changed state.

Every handler (alarm events, holds, contract end, time passing, confirmed deletions) changes the state
and then calls `settle`, which derives the consequences the same way each time: the deadline and the
rule behind it, an audit record for every object whose deadline was set or moved, the objects due now,
and the S3 legal holds to place or lift. Nothing here reads a clock, a topic or a bucket.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from handlers.audit import AuditRecord, AuditType, audit_record
from handlers.record_end import end_if_done, ends_at, forget_at
from handlers.state import AlarmState, Hold, MediaObject, MediaStatus, Rule


@dataclass(frozen=True)
class RetentionPolicy:
    media_retention: timedelta  # R1: 7 days after the alarm
    hold_retention: timedelta  # R2: at most 30 days after the alarm, for the police
    hold_expiry_warning: timedelta = timedelta(hours=24)
    # How long the marker of an alarm whose record ended is kept (handlers/record_end.py): longer than
    # the input topics keep events, so nothing redelivered finds the alarm forgotten.
    alarm_marker_lifetime: timedelta = timedelta(days=30)
    # How far in the future a producer's timestamp may lie before we call it wrong: a deadline counted
    # from a bogus future time would keep personal data longer than promised.
    max_clock_skew: timedelta = timedelta(minutes=5)


@dataclass(frozen=True)
class Outcome:
    state: AlarmState
    audit: tuple[AuditRecord, ...] = ()
    delete: tuple[MediaObject, ...] = ()  # hand to the deleter now (lift our legal hold first if set)
    legal_hold_on: tuple[MediaObject, ...] = ()
    legal_hold_off: tuple[MediaObject, ...] = ()
    rejection: str | None = None  # the event was refused; dead-letter it with this reason
    forget: bool = False  # the alarm's record is over: remove its state (a tombstone on the changelog)


@dataclass
class Change:
    """What a handler did to the state, and the records it wants to add, before settling."""

    previous: AlarmState | None
    state: AlarmState
    cause: str
    audit: list[AuditRecord] = field(default_factory=list)


def hold_limit(state: AlarmState, policy: RetentionPolicy) -> datetime | None:
    """R2: the latest moment any of the alarm's media may exist."""
    return state.triggered_at + policy.hold_retention if state.triggered_at else None


def deadline_for(state: AlarmState, policy: RetentionPolicy) -> tuple[datetime | None, Rule | None]:
    """When the alarm's pending media must go, and which rule says so."""
    limit = hold_limit(state, policy)
    if limit is None or state.triggered_at is None or not state.pending:
        return None, None
    if state.active_holds:
        return limit, Rule.HOLD_LIMIT
    deadline, rule = state.triggered_at + policy.media_retention, Rule.MEDIA_RETENTION
    if state.contract_ended_at is not None and state.contract_ended_at < deadline:
        deadline, rule = state.contract_ended_at, Rule.CONTRACT_END
    if state.erasure_requested_at is not None and state.erasure_requested_at < deadline:
        deadline, rule = state.erasure_requested_at, Rule.ERASURE_REQUEST
    # Media a hold kept past its normal deadline is due the moment the last hold ended.
    hold_ends = [h.ended_at for h in state.holds if h.accepted and h.ended_at is not None]
    if hold_ends:
        deadline = max(deadline, min(max(hold_ends), limit))
    if deadline >= limit:
        return limit, Rule.HOLD_LIMIT
    return deadline, rule


def next_check_at(state: AlarmState, policy: RetentionPolicy) -> datetime | None:
    """The next moment time alone changes something for this alarm: the scheduler wakes then."""
    if state.ended:  # forgotten at its time; not while a deletion it started waits for its confirmation
        return forget_at(state, policy) if not state.media else None
    moments: list[datetime] = []
    end = ends_at(state, policy)
    if end is not None:
        moments.append(end)
    if state.deadline is not None:
        moments.append(state.deadline)
    limit = hold_limit(state, policy)
    if limit is None:
        # Holds for an alarm not seen yet wait at most the hold limit, counted from their placement.
        moments.extend(h.placed_at + policy.hold_retention for h in state.active_holds if h.placed_at)
    elif state.active_holds:
        moments.append(limit)
        if not state.hold_warning_sent:
            moments.append(limit - policy.hold_expiry_warning)
    return min(moments) if moments else None


def in_the_future(moment: datetime, now: datetime, policy: RetentionPolicy) -> bool:
    return moment > now + policy.max_clock_skew


def settle(
    change: Change, now: datetime, policy: RetentionPolicy, *, deletions_allowed: bool = True
) -> Outcome:
    """`deletions_allowed` is False while the shell cannot yet vouch that every hold which reached it
    before `now` has been applied (after a restart or rebalance, streams/worker/backlog_gate.py): media
    that is due then stays pending with its deadline, and the passing of time deletes it once the holds
    are in."""
    state = change.state
    before = change.previous
    old_deadline = before.deadline if before else None
    old_pending = {m.ref for m in before.pending} if before else set()

    deadline, rule = deadline_for(state, policy)
    if (deadline, rule) != (state.deadline, state.deadline_rule):
        state = replace(state, deadline=deadline, deadline_rule=rule, deadline_cause=change.cause)
    audit = list(change.audit)
    if deadline is not None and rule is not None:
        new = [m for m in state.pending if m.ref not in old_pending]
        moved = [m for m in state.pending if m.ref in old_pending] if deadline != old_deadline else []
        audit.extend(_deadline_records(state, new, moved, deadline, rule, old_deadline, change.cause, now))

    delete: tuple[MediaObject, ...] = ()
    if deadline is not None and deadline <= now and deletions_allowed:
        state, delete = _start_deletion(state, deadline, rule, now)
    state, on, off = _sync_legal_holds(state)
    state, forget = end_if_done(state, now, policy)
    return Outcome(state, tuple(audit), delete, on, off, forget=forget)


def _deadline_records(
    state: AlarmState,
    new: list[MediaObject],
    moved: list[MediaObject],
    deadline: datetime,
    rule: Rule,
    old_deadline: datetime | None,
    cause: str,
    now: datetime,
) -> list[AuditRecord]:
    """One record for the objects whose deadline was set, one for those whose deadline moved."""
    records = []
    if new:
        records.append(
            record(AuditType.DELETION_SCHEDULED, state, now, cause, media=new, deadline=deadline, rule=rule)
        )
    if moved:
        extended = rule is Rule.HOLD_LIMIT and (old_deadline is None or deadline > old_deadline)
        details = {"previous_deadline": old_deadline.isoformat()} if old_deadline else {}
        kind = AuditType.RETENTION_EXTENDED if extended else AuditType.DELETION_SCHEDULED
        records.append(
            record(kind, state, now, cause, media=moved, deadline=deadline, rule=rule, details=details)
        )
    return records


def _start_deletion(
    state: AlarmState, deadline: datetime, rule: Rule | None, now: datetime
) -> tuple[AlarmState, tuple[MediaObject, ...]]:
    started = {
        m.ref: replace(
            m, status=MediaStatus.DELETING, due_at=deadline, due_rule=rule, deletion_started_at=now
        )
        for m in state.pending
    }
    # Nothing is pending any more, so there is no deadline left; each object keeps its own.
    after = replace(state.with_media(started), deadline=None, deadline_rule=None, deadline_cause=None)
    return after, tuple(started.values())


def _sync_legal_holds(
    state: AlarmState,
) -> tuple[AlarmState, tuple[MediaObject, ...], tuple[MediaObject, ...]]:
    """Pending media carries an S3 legal hold exactly while a police hold is active. Media being
    deleted keeps its flag, so the deleter knows to lift our hold first."""
    wanted = bool(state.active_holds)
    changed = {m.ref: replace(m, legal_hold=wanted) for m in state.pending if m.legal_hold != wanted}
    if not changed:
        return state, (), ()
    objects = tuple(changed.values())
    return state.with_media(changed), (objects if wanted else ()), (() if wanted else objects)


def record(
    type: AuditType,
    state: AlarmState,
    occurred_at: datetime,
    cause: str,
    *,
    media: Iterable[MediaObject] = (),
    hold: Hold | None = None,
    deadline: datetime | None = None,
    rule: Rule | None = None,
    details: dict[str, str] | None = None,
) -> AuditRecord:
    return audit_record(
        type,
        occurred_at=occurred_at,
        alarm_id=state.alarm_id,
        customer_id=state.customer_id,
        caused_by=cause,
        hold_id=hold.hold_id if hold else None,
        objects=[m.ref for m in media],
        deadline=deadline,
        rule=rule.value if rule else None,
        details=details,
    )
