"""While the shell cannot vouch that the holds which came earlier are in (after a restart or a
rebalance), no event starts a deletion: what is due stays pending, with its deadline for the scheduler.

Each handler that can make media due is asked twice, the same way, differing only in
`deletions_allowed`: allowed, it deletes at once; not allowed, it keeps the media pending and says
when to wake (the deadline, already past), so that the passing of time deletes it later.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from handlers.alarm_events import on_alarm_event
from handlers.contract_end import on_contract_ended
from handlers.customer_rights import on_erasure_requested
from handlers.holds import on_hold_placed, on_hold_released
from handlers.policy import Outcome, next_check_at
from handlers.state import AlarmState, MediaStatus
from handlers.time_passed import on_time_passed
from tests.builders import POLICY, T0, triggered
from tests.unit.policy_examples import placed, released

PAST_THE_DEADLINE = T0 + timedelta(days=7, hours=1)
TRIGGER = triggered(keys=("a.jpg",))


def alarm() -> AlarmState:
    return on_alarm_event(None, TRIGGER, T0, POLICY).state


def late_alarm(allowed: bool) -> Outcome | None:
    """The alarm-trigger arrives an hour after its deadline (a backlog, or a replay after a crash)."""
    return on_alarm_event(None, TRIGGER, PAST_THE_DEADLINE, POLICY, deletions_allowed=allowed)


def replayed_alarm(allowed: bool) -> Outcome | None:
    return on_alarm_event(alarm(), TRIGGER, PAST_THE_DEADLINE, POLICY, deletions_allowed=allowed)


def contract_end(allowed: bool) -> Outcome | None:
    now = T0 + timedelta(days=1)
    return on_contract_ended(alarm(), now, "contract-end-1", now, POLICY, deletions_allowed=allowed)


def erasure_request(allowed: bool) -> Outcome | None:
    now = T0 + timedelta(days=1)
    return on_erasure_requested(alarm(), now, "request-1", now, POLICY, deletions_allowed=allowed)


def hold_released_after_the_deadline(allowed: bool) -> Outcome | None:
    kept = on_hold_placed(alarm(), placed(), T0 + timedelta(days=1), POLICY).state
    return on_hold_released(
        kept, released(at=PAST_THE_DEADLINE), PAST_THE_DEADLINE, POLICY, deletions_allowed=allowed
    )


CASES: dict[str, Callable[[bool], Outcome | None]] = {
    "a late alarm": late_alarm,
    "a replayed alarm": replayed_alarm,
    "a contract end": contract_end,
    "an erasure request": erasure_request,
    "a hold released after the deadline": hold_released_after_the_deadline,
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
class TestAnEventThatMakesMediaDue:
    def test_deletes_at_once_when_allowed(self, case: Callable[[bool], Outcome | None]) -> None:
        outcome = case(True)
        assert outcome is not None
        assert [m.key for m in outcome.delete] == ["a.jpg"]
        assert outcome.state.media[0].status is MediaStatus.DELETING

    def test_leaves_it_pending_for_the_scheduler_when_not(
        self, case: Callable[[bool], Outcome | None]
    ) -> None:
        outcome = case(False)
        assert outcome is not None
        assert outcome.delete == ()
        state = outcome.state
        assert [m.status for m in state.media] == [MediaStatus.PENDING]
        assert state.deadline is not None
        wake = next_check_at(state, POLICY)
        assert wake is not None
        assert wake <= PAST_THE_DEADLINE

    def test_time_passing_then_deletes_it(self, case: Callable[[bool], Outcome | None]) -> None:
        outcome = case(False)
        assert outcome is not None
        later = on_time_passed(outcome.state, PAST_THE_DEADLINE, "tick", POLICY)
        assert later is not None
        assert [m.key for m in later.delete] == ["a.jpg"]


def test_a_hold_that_arrives_before_time_passes_keeps_the_media() -> None:
    waiting = late_alarm(False)
    assert waiting is not None
    kept = on_hold_placed(waiting.state, placed(at=T0 + timedelta(days=1)), PAST_THE_DEADLINE, POLICY)
    later = on_time_passed(kept.state, PAST_THE_DEADLINE, "tick", POLICY)
    assert later is not None
    assert later.delete == ()
    assert later.state.deadline == T0 + POLICY.hold_retention
