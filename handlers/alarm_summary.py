"""What counters, dashboards and the archive need of one alarm, derived once when its state changes."""

from __future__ import annotations

from dataclasses import dataclass

from handlers.state import AlarmState, Hold, MediaStatus


@dataclass(frozen=True, slots=True)
class AlarmSummary:
    partition: int
    customer_id: str | None
    pending: int
    deleting: int
    deleted: int
    deadline: float | None  # of the pending media (POSIX seconds)
    oldest_deleting_due: float | None
    active_holds: tuple[Hold, ...]


def summarise(state: AlarmState, partition: int) -> AlarmSummary:
    deleting_due = [
        m.due_at.timestamp() for m in state.media if m.status is MediaStatus.DELETING and m.due_at
    ]
    return AlarmSummary(
        partition=partition,
        customer_id=state.customer_id,
        pending=len(state.pending),
        deleting=len(deleting_due),
        deleted=sum(1 for m in state.media if m.status is MediaStatus.DELETED),
        deadline=state.deadline.timestamp() if state.deadline and state.pending else None,
        oldest_deleting_due=min(deleting_due) if deleting_due else None,
        active_holds=state.active_holds,
    )
