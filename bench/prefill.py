"""Millions of alarms' states written straight to the alarms table's changelog, for the scale bench.

Pushing ten million objects through a worker would measure ingest, not scale; a worker that starts on a
changelog holding them is what a long-running deployment restarts with. The states are what the worker
itself writes for an alarm with five pending images (handlers/state.py), keyed by alarm id: produced
with the client's default partitioner (murmur2), they land where the worker's own partitioner
(streams/kafka/partitioning.py) puts them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from handlers.state import AlarmState, MediaObject, Rule, encode_state

MEDIA_PER_ALARM = 5
WEEK = timedelta(days=7)


def pending_alarms(count: int, bucket: str, now: datetime, prefix: str) -> Iterator[tuple[bytes, bytes]]:
    """`count` alarms triggered over the last week (none due yet), five pending objects each."""
    for i in range(count):
        alarm_id = f"{prefix}-{i:08d}"
        # Spread over the week before `now`, leaving the last two hours free: nothing falls due in the bench.
        triggered_at = now - WEEK + timedelta(hours=2) + (WEEK - timedelta(hours=3)) * (i / max(1, count))
        media = tuple(
            MediaObject(bucket=bucket, key=f"{alarm_id}/image-{n}.jpg", added_by=f"{alarm_id}-event")
            for n in range(MEDIA_PER_ALARM)
        )
        state = AlarmState(
            alarm_id=alarm_id,
            customer_id=f"customer-{i % 5_000_000:07d}",
            triggered_at=triggered_at,
            media=media,
            deadline=triggered_at + WEEK,
            deadline_rule=Rule.MEDIA_RETENTION,
            deadline_cause=f"{alarm_id}-event",
        )
        yield alarm_id.encode(), encode_state(state)


def ended_alarms(count: int, now: datetime, prefix: str) -> Iterator[tuple[bytes, bytes]]:
    """`count` alarms whose media went in the last three weeks: only their markers are left."""
    for i in range(count):
        alarm_id = f"{prefix}-{i:08d}"
        ended_at = now - timedelta(days=21) + timedelta(days=21) * (i / max(1, count))
        marker = AlarmState(alarm_id=alarm_id, ended_at=ended_at, media_gone_at=ended_at)
        yield alarm_id.encode(), encode_state(marker)
