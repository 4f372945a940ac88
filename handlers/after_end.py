"""Events for an alarm whose record has ended (handlers/record_end.py): answered from its marker.

Nothing an event says puts personal data back into the service's state: the marker stays as it is,
but for the keys of objects it deletes again, kept until the object store confirms them gone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from handlers.audit import AuditRecord, AuditType
from handlers.events import AlarmTriggered, HoldPlaced, HoldReleased, MediaStored
from handlers.policy import Outcome, RetentionPolicy, record
from handlers.record_end import forget_at
from handlers.state import AlarmState, Hold, MediaObject, MediaStatus


def on_event_after_end(
    marker: AlarmState, event: AlarmTriggered | MediaStored | HoldPlaced | HoldReleased, now: datetime
) -> Outcome:
    """An event for an alarm whose record has ended: answered from the marker, which stays as it is."""
    if isinstance(event, HoldPlaced):
        if event.hold_id in marker.ended_hold_ids:
            return Outcome(marker)  # answered before the end
        return Outcome(marker, audit=(_late_hold_rejected(marker, event, now),))
    if isinstance(event, HoldReleased):
        if event.hold_id in marker.ended_hold_ids:
            return Outcome(marker)
        details = {"note": "no such hold; the alarm's media went before", "ended_at": _iso(marker.ended_at)}
        hold = Hold(hold_id=event.hold_id)
        audit = record(
            AuditType.HOLD_RELEASE_UNMATCHED, marker, now, event.event_id, hold=hold, details=details
        )
        return Outcome(marker, audit=(audit,))
    # Deleted again, in case they exist: kept in the marker (their keys only) until the object store
    # confirms, so that a restart resumes the deletion as it resumes any other.
    in_flight = {m.ref for m in marker.media}
    objects = tuple(
        MediaObject(bucket=m.bucket, key=m.key, status=MediaStatus.DELETING, deletion_started_at=now)
        for m in event.media
        if (m.bucket, m.key) not in in_flight
    )
    details = {
        "ended_at": _iso(marker.ended_at),
        "note": "the alarm's record had ended; the objects named are deleted again, in case they exist",
    }
    if marker.media_gone_at is not None:
        details["media_gone_at"] = marker.media_gone_at.isoformat()
    named = [MediaObject(bucket=m.bucket, key=m.key) for m in event.media]
    audit = record(AuditType.EVENT_AFTER_END, marker, now, event.event_id, media=named, details=details)
    return Outcome(replace(marker, media=marker.media + objects), audit=(audit,), delete=objects)


def on_deleted_after_end(
    marker: AlarmState, deleted: Iterable[tuple[str, str]], deleted_at: datetime, cause: str
) -> Outcome | None:
    """The object store confirmed what the marker deleted again: the keys leave the marker."""
    gone = {ref for ref in deleted if marker.find_media(*ref) is not None}
    if not gone:
        return None
    audit = record(
        AuditType.DELETED_AFTER_END,
        marker,
        deleted_at,
        cause,
        media=[m for m in marker.media if m.ref in gone],
        details={"note": "deleted again after the alarm's record ended (they may not have existed)"},
    )
    return Outcome(replace(marker, media=tuple(m for m in marker.media if m.ref not in gone)), audit=(audit,))


def on_time_passed_after_end(marker: AlarmState, now: datetime, policy: RetentionPolicy) -> Outcome:
    """Forgotten at its time, unless a deletion it started is not confirmed yet (the deleter retries)."""
    when = forget_at(marker, policy)
    return Outcome(marker, forget=when is not None and now >= when and not marker.media)


def _late_hold_rejected(marker: AlarmState, event: HoldPlaced, now: datetime) -> AuditRecord:
    if marker.media_gone_at is not None:
        details = {"reason": "media_already_deleted", "deleted_at": marker.media_gone_at.isoformat()}
    else:  # it never had media, and its hold limit has passed
        details = {"reason": "retention_limit_passed", "limit": _iso(marker.ended_at)}
    details["case_reference"] = event.case_reference or ""
    hold = Hold(hold_id=event.hold_id)
    return record(AuditType.HOLD_REJECTED, marker, now, event.event_id, hold=hold, details=details)


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment is not None else ""
