"""Hold events and small readers shared by the policy's unit tests (the alarm events are in
tests/builders.py). Test modules import these from here, never from each other."""

from __future__ import annotations

from datetime import datetime, timedelta

from handlers.audit import AuditType
from handlers.events import HoldPlaced, HoldReleased
from handlers.policy import Outcome
from tests.builders import T0, new_id

LIMIT = T0 + timedelta(days=30)  # the hold limit of an alarm triggered at T0, under tests.builders.POLICY


def placed(
    hold_id: str = "hold-1", at: datetime = T0 + timedelta(days=1), event_id: str | None = None
) -> HoldPlaced:
    return HoldPlaced(
        type="hold.placed",
        event_id=event_id or new_id(),
        hold_id=hold_id,
        alarm_id="alarm-1",
        case_reference="2026-POL-1",
        placed_by="liaison@police",
        placed_at=at.isoformat(),  # type: ignore[arg-type]
    )


def released(
    hold_id: str = "hold-1", at: datetime = T0 + timedelta(days=2), event_id: str | None = None
) -> HoldReleased:
    return HoldReleased(
        type="hold.released",
        event_id=event_id or new_id(),
        hold_id=hold_id,
        alarm_id="alarm-1",
        released_by="liaison@police",
        released_at=at.isoformat(),  # type: ignore[arg-type]
    )


def types(outcome: Outcome) -> list[AuditType]:
    return [r.type for r in outcome.audit]
