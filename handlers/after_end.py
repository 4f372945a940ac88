"""Events for an alarm whose record has ended (handlers/record_end.py): answered from its marker.

The marker stays as it is: nothing an event says puts personal data back into the service's state.
"""

from __future__ import annotations

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
    objects = tuple(
        MediaObject(bucket=m.bucket, key=m.key, status=MediaStatus.DELETING, deletion_started_at=now)
        for m in event.media
    )
    details = {
        "ended_at": _iso(marker.ended_at),
        "note": "the alarm's record had ended; the objects named are deleted again, in case they exist",
    }
    if marker.media_gone_at is not None:
        details["media_gone_at"] = marker.media_gone_at.isoformat()
    audit = record(AuditType.EVENT_AFTER_END, marker, now, event.event_id, media=objects, details=details)
    return Outcome(marker, audit=(audit,), delete=objects)


def on_time_passed_after_end(marker: AlarmState, now: datetime, policy: RetentionPolicy) -> Outcome:
    when = forget_at(marker, policy)
    return Outcome(marker, forget=when is not None and now >= when)


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
