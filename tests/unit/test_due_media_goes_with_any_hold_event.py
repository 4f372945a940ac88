"""Media that fell due while deletions had to wait (after a restart, until the earlier holds were in)
goes with the next event that may delete, whatever that event is: even a hold event that changes nothing
else, a duplicate or a redelivery, settles the alarm. And while deletions must still wait, none of them
deletes anything."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

import pytest

from handlers.alarm_events import on_alarm_event
from handlers.events import HoldPlaced, HoldReleased
from handlers.holds import on_hold_placed, on_hold_released
from handlers.policy import Outcome
from handlers.state import AlarmState
from tests.builders import POLICY, T0, triggered
from tests.unit.policy_examples import placed, released

PLACED_AT = T0 + timedelta(days=8)
RELEASED_AT = T0 + timedelta(days=9)
NOW = T0 + timedelta(days=10)
PLACEMENT = placed(at=PLACED_AT)
RELEASE = released(at=RELEASED_AT)
Event = TypeVar("Event", HoldPlaced, HoldReleased)


def released_while_deletions_waited() -> AlarmState:
    """A hold kept the media past its 7 days and was released on day 9, all while the worker could
    not delete: the media is due (since the release) and still pending."""
    state = on_alarm_event(None, triggered(), PLACED_AT, POLICY, deletions_allowed=False).state
    state = on_hold_placed(state, PLACEMENT, PLACED_AT, POLICY, deletions_allowed=False).state
    state = on_hold_released(state, RELEASE, RELEASED_AT, POLICY, deletions_allowed=False).state
    assert len(state.pending) == 2
    assert state.deadline == RELEASED_AT
    return state


def another(event: Event) -> Event:
    """The same hold event, sent again by its producer under a new event id."""
    return event.model_copy(update={"event_id": f"{event.event_id}-again"})


CASES: dict[str, Callable[[AlarmState, bool], Outcome]] = {
    "the placement again": lambda s, allowed: on_hold_placed(
        s, PLACEMENT, NOW, POLICY, deletions_allowed=allowed
    ),
    "another placement of the hold": lambda s, allowed: on_hold_placed(
        s, another(PLACEMENT), NOW, POLICY, deletions_allowed=allowed
    ),
    "the release again": lambda s, allowed: on_hold_released(
        s, RELEASE, NOW, POLICY, deletions_allowed=allowed
    ),
    "another release of the hold": lambda s, allowed: on_hold_released(
        s, another(RELEASE), NOW, POLICY, deletions_allowed=allowed
    ),
    "a placement refused past the hold limit": lambda s, allowed: on_hold_placed(
        s,
        placed("hold-2", at=NOW + timedelta(days=21)),
        NOW + timedelta(days=21),
        POLICY,
        deletions_allowed=allowed,
    ),
}


class TestAnyHoldEventLetsDueMediaGo:
    @pytest.mark.parametrize("event", CASES.values(), ids=CASES.keys())
    def test_the_due_media_is_handed_to_the_deleter_at_its_deadline(
        self, event: Callable[[AlarmState, bool], Outcome]
    ) -> None:
        outcome = event(released_while_deletions_waited(), True)
        assert {m.key for m in outcome.delete} == {"a.jpg", "b.jpg"}
        assert all(m.due_at == RELEASED_AT for m in outcome.delete)
        assert outcome.state.pending == ()


class TestNoHoldEventDeletesWhileDeletionsWait:
    @pytest.mark.parametrize("event", CASES.values(), ids=CASES.keys())
    def test_the_due_media_stays_pending_with_its_deadline(
        self, event: Callable[[AlarmState, bool], Outcome]
    ) -> None:
        outcome = event(released_while_deletions_waited(), False)
        assert outcome.delete == ()
        assert len(outcome.state.pending) == 2
        assert outcome.state.deadline == RELEASED_AT
