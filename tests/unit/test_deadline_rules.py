"""How an alarm's deadline is set and moved (R1, R2, R3), and that every move is recorded with the rule
that made it."""

from __future__ import annotations

from datetime import timedelta

from handlers.alarm_events import on_alarm_event
from handlers.audit import AuditType
from handlers.contract_end import on_contract_ended
from handlers.holds import on_hold_placed
from handlers.policy import next_check_at
from handlers.state import AlarmState, Rule
from tests.builders import POLICY, T0, triggered
from tests.unit.policy_examples import LIMIT, placed

DAY = timedelta(days=1)


def alarm() -> AlarmState:
    return on_alarm_event(None, triggered(keys=("a.jpg", "b.jpg")), T0, POLICY).state


class TestAnAlarmWithoutMedia:
    def test_has_no_deadline_and_wakes_only_to_end_its_record_at_the_hold_limit(self) -> None:
        outcome = on_alarm_event(None, triggered(keys=()), T0, POLICY)
        assert (outcome.state.deadline, outcome.state.deadline_rule) == (None, None)
        # Media stored later would be due at once after the hold limit: then its record ends.
        assert next_check_at(outcome.state, POLICY) == T0 + POLICY.hold_retention
        assert outcome.audit == ()


class TestAMovedDeadlineIsRecordedWithTheRuleThatMovedIt:
    def test_a_hold_extends_it_to_the_hold_limit_under_r2(self) -> None:
        outcome = on_hold_placed(alarm(), placed(), T0 + DAY, POLICY)
        [extended] = [r for r in outcome.audit if r.type is AuditType.RETENTION_EXTENDED]
        assert (extended.rule, extended.deadline) == ("R2", LIMIT)
        assert extended.details == {"previous_deadline": (T0 + 7 * DAY).isoformat()}

    def test_a_contract_end_brings_it_forward_under_r3(self) -> None:
        outcome = on_contract_ended(alarm(), T0 + 3 * DAY, "contract-evt", T0 + DAY, POLICY)
        assert outcome is not None
        [moved] = [r for r in outcome.audit if r.type is AuditType.DELETION_SCHEDULED]
        assert (moved.rule, moved.deadline, moved.object_keys()) == ("R3", T0 + 3 * DAY, ["a.jpg", "b.jpg"])
        assert moved.details == {"previous_deadline": (T0 + 7 * DAY).isoformat()}
        assert outcome.state.deadline_rule is Rule.CONTRACT_END


class TestTheClockSkewAllowance:
    def test_a_trigger_time_exactly_the_allowed_skew_ahead_is_accepted(self) -> None:
        ahead = T0 + POLICY.max_clock_skew
        assert on_alarm_event(None, triggered(at=ahead), T0, POLICY).rejection is None

    def test_a_trigger_time_a_moment_past_the_allowed_skew_is_refused(self) -> None:
        ahead = T0 + POLICY.max_clock_skew + timedelta(microseconds=1)
        assert on_alarm_event(None, triggered(at=ahead), T0, POLICY).rejection is not None
