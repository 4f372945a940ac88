"""Rule R2's limit, announced: the police are warned before the 30 days are up, told which case it is and
when, and the expiry is recorded against each hold with the limit that ended it."""

from __future__ import annotations

from datetime import timedelta

from handlers.alarm_events import on_alarm_event
from handlers.audit import AuditType
from handlers.holds import on_hold_placed
from handlers.state import AlarmState, Rule
from handlers.time_passed import on_time_passed
from tests.builders import POLICY, T0, triggered
from tests.unit.policy_examples import LIMIT, placed

WARNING = LIMIT - timedelta(hours=24)


def held_twice() -> AlarmState:
    state = on_alarm_event(None, triggered(), T0, POLICY).state
    state = on_hold_placed(state, placed("hold-1"), T0 + timedelta(days=1), POLICY).state
    second = placed("hold-2").model_copy(update={"case_reference": "2026-POL-2"})
    return on_hold_placed(state, second, T0 + timedelta(days=1), POLICY).state


class TestTheWarningBeforeTheHoldLimit:
    def test_each_hold_is_warned_with_its_case_and_the_moment_the_media_goes(self) -> None:
        outcome = on_time_passed(held_twice(), WARNING, "tick", POLICY)
        assert outcome is not None
        warnings = {r.hold_id: r for r in outcome.audit if r.type is AuditType.HOLD_EXPIRING}
        assert set(warnings) == {"hold-1", "hold-2"}
        assert {h: r.details["case_reference"] for h, r in warnings.items()} == {
            "hold-1": "2026-POL-1",
            "hold-2": "2026-POL-2",
        }
        assert all(r.deadline == LIMIT for r in warnings.values())
        assert all(r.details["expires_at"] == LIMIT.isoformat() for r in warnings.values())
        assert all(r.details["note"] for r in warnings.values())

    def test_no_warning_before_its_time(self) -> None:
        outcome = on_time_passed(held_twice(), WARNING - timedelta(microseconds=1), "tick", POLICY)
        assert outcome is not None
        assert outcome.audit == ()


class TestTheExpiryAtTheHoldLimit:
    def test_each_hold_is_recorded_expired_at_the_limit_and_the_media_goes_under_r2(self) -> None:
        outcome = on_time_passed(held_twice(), LIMIT, "tick", POLICY)
        assert outcome is not None
        expired = [r for r in outcome.audit if r.type is AuditType.HOLD_EXPIRED]
        assert sorted(r.hold_id or "" for r in expired) == ["hold-1", "hold-2"]
        assert all(r.deadline == LIMIT and r.details["note"] for r in expired)
        assert all(h.expired_at == LIMIT and not h.active for h in outcome.state.holds)
        assert {(m.key, m.due_rule) for m in outcome.delete} == {
            ("a.jpg", Rule.HOLD_LIMIT),
            ("b.jpg", Rule.HOLD_LIMIT),
        }
