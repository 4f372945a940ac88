"""At-least-once delivery: an event that answered a hold, delivered again, publishes the same answer again
(its first publication may have been lost in a crash), and an event that did not answer it says nothing."""

from __future__ import annotations

from datetime import timedelta

from handlers.alarm_events import on_alarm_event
from handlers.audit import AuditRecord, AuditType
from handlers.events import HoldPlaced
from handlers.holds import on_hold_placed, on_hold_released
from handlers.policy import Outcome
from handlers.state import AlarmState
from handlers.time_passed import on_time_passed
from tests.builders import POLICY, T0, triggered
from tests.unit.policy_examples import LIMIT, placed, released

DAY = timedelta(days=1)
EARLY = T0 + timedelta(minutes=1)  # a hold placed before its alarm reached us


def alarm() -> AlarmState:
    return on_alarm_event(None, triggered(), T0, POLICY).state


def answers(outcome: Outcome) -> list[tuple[AuditType, str | None, str]]:
    return [(r.type, r.hold_id, r.audit_id) for r in outcome.audit]


def delivered_twice(state: AlarmState | None, event: HoldPlaced, after: timedelta) -> tuple[Outcome, Outcome]:
    first = on_hold_placed(state, event, T0 + after, POLICY)
    return first, on_hold_placed(first.state, event, T0 + after + timedelta(minutes=5), POLICY)


def the(outcome: Outcome, kind: AuditType) -> AuditRecord:
    [found] = [r for r in outcome.audit if r.type is kind]
    return found


class TestARedeliveredPlacementRepeatsItsAnswer:
    def test_an_accepted_hold_is_accepted_again_with_the_same_audit_id_and_content(self) -> None:
        first, again = delivered_twice(alarm(), placed(), DAY)
        accepted, repeated = the(first, AuditType.HOLD_ACCEPTED), the(again, AuditType.HOLD_ACCEPTED)
        assert repeated.audit_id == accepted.audit_id
        assert repeated.details == accepted.details
        assert "waited_for_alarm" not in repeated.details
        assert again.state == first.state

    def test_a_waiting_hold_is_waiting_again_until_the_same_moment(self) -> None:
        first, again = delivered_twice(None, placed(at=EARLY), timedelta(minutes=1))
        waiting, repeated = the(first, AuditType.HOLD_WAITING), the(again, AuditType.HOLD_WAITING)
        assert repeated.audit_id == waiting.audit_id
        assert repeated.details == {"waits_until": (EARLY + timedelta(days=30)).isoformat()}

    def test_a_hold_refused_as_already_released_is_refused_again_for_that_reason(self) -> None:
        early_release = on_hold_released(alarm(), released(), T0 + 2 * DAY, POLICY).state
        first, again = delivered_twice(early_release, placed(), 2 * DAY)
        assert the(first, AuditType.HOLD_REJECTED).details == {"reason": "already_released"}
        assert answers(again) == answers(first)
        assert the(again, AuditType.HOLD_REJECTED).details == {"reason": "already_released"}

    def test_a_hold_refused_because_deletion_began_is_refused_again_for_that_reason(self) -> None:
        due = on_time_passed(alarm(), T0 + 7 * DAY, "tick", POLICY)
        assert due is not None
        first, again = delivered_twice(due.state, placed(at=T0 + 7 * DAY), 7 * DAY)
        assert answers(again) == answers(first)
        assert the(again, AuditType.HOLD_REJECTED).details["reason"] == "media_already_deleted"

    def test_a_hold_refused_past_the_limit_is_refused_again_for_that_reason(self) -> None:
        first, again = delivered_twice(alarm(), placed(at=LIMIT), 30 * DAY)
        assert answers(again) == answers(first)
        assert the(again, AuditType.HOLD_REJECTED).details["reason"] == "retention_limit_passed"


class TestAnEventThatDidNotAnswerAHoldSaysNothingAboutIt:
    def test_the_placement_of_a_hold_accepted_later_by_its_alarm_does_not_say_waiting_again(self) -> None:
        event = placed(at=EARLY)
        waiting = on_hold_placed(None, event, EARLY, POLICY).state
        accepted = on_alarm_event(waiting, triggered(), EARLY + timedelta(minutes=1), POLICY).state
        again = on_hold_placed(accepted, event, EARLY + timedelta(minutes=2), POLICY)
        assert again.audit == ()
        assert again.state == accepted

    def test_the_placement_of_a_hold_dropped_while_waiting_does_not_say_waiting_again(self) -> None:
        event = placed(at=EARLY)
        waiting = on_hold_placed(None, event, EARLY, POLICY).state
        dropped = on_hold_released(waiting, released(at=EARLY + DAY), EARLY + DAY, POLICY).state
        again = on_hold_placed(dropped, event, EARLY + DAY, POLICY)
        assert again.audit == ()
        assert again.state == dropped


class TestARedeliveredAlarmRepeatsTheAnswersItGaveWaitingHolds:
    def test_the_hold_it_accepted_is_accepted_again_saying_it_waited(self) -> None:
        waiting = on_hold_placed(None, placed(at=EARLY), EARLY, POLICY).state
        event = triggered()
        first = on_alarm_event(waiting, event, EARLY + timedelta(minutes=1), POLICY)
        again = on_alarm_event(first.state, event, EARLY + timedelta(minutes=2), POLICY)
        accepted, repeated = the(first, AuditType.HOLD_ACCEPTED), the(again, AuditType.HOLD_ACCEPTED)
        assert repeated.audit_id == accepted.audit_id
        assert repeated.details == accepted.details
        assert repeated.details["waited_for_alarm"] == "true"
