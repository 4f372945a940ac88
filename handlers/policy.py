"""The retention rules: a pure function of an alarm's state, one event, and the time.

Nothing here reads a clock, a topic or a bucket. Each function returns an `Outcome`: the new state, the
audit records to publish, and the objects the shell must delete now. The shell carries it out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from handlers.audit import AuditRecord, AuditType, audit_record
from handlers.events import AlarmTriggered, MediaStored
from handlers.state import AlarmState, MediaObject, MediaStatus, Rule


@dataclass(frozen=True)
class RetentionPolicy:
    media_retention: timedelta  # R1: 7 days after the alarm
    hold_retention: timedelta  # R2: at most 30 days after the alarm, for the police
    hold_expiry_warning: timedelta = timedelta(hours=24)
    # How far in the future a producer's timestamp may lie before we call it wrong: a deadline counted
    # from a bogus future time would keep personal data longer than promised.
    max_clock_skew: timedelta = timedelta(minutes=5)


@dataclass(frozen=True)
class Outcome:
    state: AlarmState
    audit: tuple[AuditRecord, ...] = ()
    delete: tuple[MediaObject, ...] = ()  # hand these to the object store now
    rejection: str | None = None  # the event was refused; dead-letter it with this reason


def deadline_for(state: AlarmState, policy: RetentionPolicy) -> tuple[datetime | None, Rule | None]:
    """When the alarm's pending media must go, and which rule says so."""
    if state.triggered_at is None or not state.pending:
        return None, None
    limit = state.triggered_at + policy.hold_retention
    if state.active_holds:
        return limit, Rule.HOLD_LIMIT
    deadline, rule = state.triggered_at + policy.media_retention, Rule.MEDIA_RETENTION
    if state.contract_ended_at is not None and state.contract_ended_at < deadline:
        deadline, rule = state.contract_ended_at, Rule.CONTRACT_END
    if limit < deadline:  # only if MEDIA_RETENTION were set above HOLD_RETENTION
        return limit, Rule.HOLD_LIMIT
    return deadline, rule


def on_alarm_event(
    state: AlarmState | None,
    event: AlarmTriggered | MediaStored,
    now: datetime,
    policy: RetentionPolicy,
) -> Outcome:
    """An alarm went off, or more of its media was stored."""
    current = state or AlarmState(alarm_id=event.alarm_id)
    if event.triggered_at > now + policy.max_clock_skew:
        return Outcome(
            current,
            rejection=f"triggered_at lies more than {policy.max_clock_skew} in the future",
        )

    audit: list[AuditRecord] = []
    if current.triggered_at is None:
        current = replace(current, customer_id=event.customer_id, triggered_at=event.triggered_at)
    else:
        conflicts = _conflicting_fields(current, event)
        if conflicts:
            # The first account of the alarm stands; the media of this one is still kept track of,
            # so that it is deleted rather than forgotten.
            audit.append(
                _record(
                    AuditType.CONFLICTING_EVENT,
                    current,
                    now,
                    event.event_id,
                    details={"fields": ",".join(conflicts), "kept": "first recorded values"},
                )
            )

    known = {m.ref for m in current.media}
    new_media: list[MediaObject] = []
    for ref in event.media:
        if (ref.bucket, ref.key) not in known:
            known.add((ref.bucket, ref.key))
            new_media.append(MediaObject(bucket=ref.bucket, key=ref.key, added_by=event.event_id))
    current = _with_deadline(replace(current, media=current.media + tuple(new_media)), policy, event.event_id)

    audit.extend(
        _record(
            AuditType.DELETION_SCHEDULED,
            current,
            now,
            event.event_id,
            media=media,
            deadline=current.deadline,
            rule=current.deadline_rule,
        )
        for media in new_media
    )
    return _delete_if_due(current, now, tuple(audit))


def on_deadline_reached(state: AlarmState | None, now: datetime) -> Outcome | None:
    """The scheduler says the alarm's deadline has come; the state decides whether it really has."""
    if state is None:
        return None
    return _delete_if_due(state, now, ())


def on_objects_deleted(
    state: AlarmState | None,
    deleted: Iterable[tuple[str, str]],
    deleted_at: datetime,
    cause: str,
    policy: RetentionPolicy,
) -> Outcome | None:
    """The object store confirmed that every version of these objects is gone."""
    if state is None:
        return None
    audit: list[AuditRecord] = []
    updated: dict[tuple[str, str], MediaObject] = {}
    for bucket, key in deleted:
        media = state.find_media(bucket, key)
        if media is None or media.status is MediaStatus.DELETED or (bucket, key) in updated:
            continue  # a redelivered confirmation changes nothing
        done = replace(media, status=MediaStatus.DELETED, deleted_at=deleted_at)
        updated[(bucket, key)] = done
        audit.append(
            _record(
                AuditType.DELETED,
                state,
                deleted_at,
                cause,
                media=done,
                deadline=media.due_at,
                rule=media.due_rule,
                details=_lateness(media.due_at, deleted_at),
            )
        )
    if not updated:
        return Outcome(state)
    return Outcome(_with_deadline(state.with_media(updated), policy, cause), tuple(audit))


def _delete_if_due(state: AlarmState, now: datetime, audit: tuple[AuditRecord, ...]) -> Outcome:
    if state.deadline is None or state.deadline > now:
        return Outcome(state, audit)
    started = {
        m.ref: replace(
            m,
            status=MediaStatus.DELETING,
            due_at=state.deadline,
            due_rule=state.deadline_rule,
            deletion_started_at=now,
        )
        for m in state.pending
    }
    # Nothing is pending any more, so there is no deadline left; each object keeps its own.
    after = replace(state.with_media(started), deadline=None, deadline_rule=None, deadline_cause=None)
    return Outcome(after, audit, delete=tuple(started.values()))


def _with_deadline(state: AlarmState, policy: RetentionPolicy, cause: str) -> AlarmState:
    deadline, rule = deadline_for(state, policy)
    if (deadline, rule) == (state.deadline, state.deadline_rule):
        return state
    return replace(
        state,
        deadline=deadline,
        deadline_rule=rule,
        deadline_cause=cause if deadline is not None else None,
    )


def _conflicting_fields(state: AlarmState, event: AlarmTriggered | MediaStored) -> list[str]:
    conflicts = []
    if state.customer_id not in (None, event.customer_id):
        conflicts.append("customer_id")
    if state.triggered_at != event.triggered_at:
        conflicts.append("triggered_at")
    return conflicts


def _lateness(due_at: datetime | None, deleted_at: datetime) -> dict[str, str]:
    if due_at is None:
        return {}
    return {"lateness_seconds": f"{(deleted_at - due_at).total_seconds():.3f}"}


def _record(
    type: AuditType,
    state: AlarmState,
    occurred_at: datetime,
    cause: str,
    *,
    media: MediaObject | None = None,
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
        bucket=media.bucket if media else None,
        key=media.key if media else None,
        deadline=deadline,
        rule=rule.value if rule else None,
        details=details,
    )
