"""The end of the service's own record of an alarm: its state holds personal data too.

An alarm's state names the customer, every object key, the case references and the officers who placed
or released holds. Once its last promise is kept it shrinks to a marker, and the marker goes later:

- An alarm whose media all went (every object confirmed deleted) with no hold active ends at once. An
  alarm that never had media ends at its hold limit: media stored after that would be due at once.
- The marker keeps the alarm id, when the record ended, when its media went, and the ids of the holds it
  had; no customer, no object keys, no names or case references. It answers what may still come:
  a new police hold is rejected at once (`media_already_deleted`, with the time); a hold it already
  answered, delivered again, changes nothing; an alarm event delivered again (or media stored late)
  has its objects deleted again, in case they exist, and adds nothing to the record.
- The marker is forgotten (a tombstone on the changelog) `alarm_marker_lifetime` after the record ended.
  That lifetime is longer than the input topics keep events, so nothing Kafka can redeliver finds the
  alarm forgotten; the retention schedule (config/retention-schedule.toml) states it.
- Holds for an alarm never seen, none of them active any more, are forgotten outright `hold_retention`
  after the last of them was placed, released or dropped, counted from the later of the time the event
  gives and the moment the service recorded it (dropped: by the service's clock), so that a hold event
  Kafka redelivers finds its hold, not a new one, however late the event came: an alarm they name went
  off before the police named it, so it is past its own hold limit by then.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from handlers.state import AlarmState

if TYPE_CHECKING:
    from handlers.policy import RetentionPolicy


def ends_at(state: AlarmState, policy: RetentionPolicy) -> datetime | None:
    """When this state may end (now or later); None while something is still to be done for it."""
    if state.ended or state.pending or state.deleting or state.active_holds:
        return None
    if state.known:
        if state.media:
            return _media_gone_at(state)
        assert state.triggered_at is not None
        return state.triggered_at + policy.hold_retention
    # The service's own clock (recorded_at, dropped_at) counts: an event may carry a time long before its
    # delivery, and a record counted from that alone would be forgotten in the step that wrote it, before
    # a redelivery of the event or the alarm it names could find it.
    moments = [
        t
        for h in state.holds
        for t in (h.placed_at, h.released_at, h.dropped_at, h.recorded_at)
        if t is not None
    ]
    return max(moments) + policy.hold_retention if moments else None


def forget_at(state: AlarmState, policy: RetentionPolicy) -> datetime | None:
    """When a marker is forgotten altogether."""
    return state.ended_at + policy.alarm_marker_lifetime if state.ended_at is not None else None


def end_if_done(state: AlarmState, now: datetime, policy: RetentionPolicy) -> tuple[AlarmState, bool]:
    """(the state, or its marker when it ends now; True when it is to be forgotten outright)."""
    end = ends_at(state, policy)
    if end is None or end > now:
        return state, False
    if not state.known:
        return state, True  # only holds, none active: nothing a late event could ask about
    marker = AlarmState(
        alarm_id=state.alarm_id,
        ended_at=now,
        media_gone_at=_media_gone_at(state) if state.media else None,
        ended_hold_ids=tuple(sorted({h.hold_id for h in state.holds if h.placed})),
    )
    return marker, False


def _media_gone_at(state: AlarmState) -> datetime | None:
    times = [m.deleted_at for m in state.media if m.deleted_at is not None]
    return max(times) if times else None
