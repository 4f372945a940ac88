"""Rule R3: a customer's media goes when the contract ends, unless the police hold it."""

from __future__ import annotations

from datetime import timedelta

from handlers.alarm_events import on_alarm_event
from handlers.audit import AuditType
from handlers.contract_end import on_contract_ended
from handlers.holds import on_hold_placed, on_hold_released
from handlers.state import AlarmState, Rule
from tests.builders import POLICY, T0, stored, triggered
from tests.unit.policy_examples import LIMIT, placed, released, types

DAY = timedelta(days=1)


def alarm() -> AlarmState:
    return on_alarm_event(None, triggered(), T0, POLICY).state


class TestContractEnd:
    def test_an_end_in_the_past_deletes_the_media_now(self) -> None:
        outcome = on_contract_ended(alarm(), T0 + DAY, "contract-evt", T0 + 2 * DAY, POLICY)
        assert outcome is not None
        assert len(outcome.delete) == 2
        assert all(m.due_at == T0 + DAY and m.due_rule is Rule.CONTRACT_END for m in outcome.delete)
        assert types(outcome)[0] == AuditType.CONTRACT_ENDED
        assert {r.caused_by for r in outcome.audit} == {"contract-evt"}

    def test_an_end_announced_ahead_brings_the_deadline_forward(self) -> None:
        outcome = on_contract_ended(alarm(), T0 + 3 * DAY, "contract-evt", T0 + DAY, POLICY)
        assert outcome is not None
        assert outcome.delete == ()
        assert outcome.state.deadline == T0 + 3 * DAY
        assert types(outcome) == [AuditType.CONTRACT_ENDED, AuditType.DELETION_SCHEDULED]
        assert outcome.audit[1].object_keys() == ["a.jpg", "b.jpg"]

    def test_an_end_after_the_normal_deadline_changes_nothing(self) -> None:
        outcome = on_contract_ended(alarm(), T0 + 10 * DAY, "contract-evt", T0 + DAY, POLICY)
        assert outcome is not None
        assert outcome.state.deadline == T0 + 7 * DAY
        assert outcome.state.deadline_rule is Rule.MEDIA_RETENTION

    def test_held_media_is_kept_and_the_record_says_why(self) -> None:
        held = on_hold_placed(alarm(), placed(), T0 + DAY, POLICY).state
        outcome = on_contract_ended(held, T0 + 2 * DAY, "contract-evt", T0 + 2 * DAY, POLICY)
        assert outcome is not None
        assert outcome.delete == ()
        assert outcome.state.deadline == LIMIT
        details = outcome.audit[0].details
        assert details["kept_for_holds"] == "hold-1"
        assert details["kept_at_most_until"] == LIMIT.isoformat()

    def test_held_media_goes_when_the_hold_is_released(self) -> None:
        held = on_hold_placed(alarm(), placed(), T0 + DAY, POLICY).state
        ended = on_contract_ended(held, T0 + 2 * DAY, "contract-evt", T0 + 2 * DAY, POLICY)
        assert ended is not None
        outcome = on_hold_released(ended.state, released(at=T0 + 3 * DAY), T0 + 3 * DAY, POLICY)
        assert len(outcome.delete) == 2
        assert all(m.due_at == T0 + 3 * DAY for m in outcome.delete)

    def test_media_arriving_after_the_contract_ended_goes_at_once(self) -> None:
        outcome = on_alarm_event(
            None, stored(keys=("late.mp4",)), T0 + 2 * DAY, POLICY, contract_ended=(T0 + DAY, "contract-evt")
        )
        assert [m.key for m in outcome.delete] == ["late.mp4"]
        assert AuditType.CONTRACT_ENDED in types(outcome)

    def test_a_repeated_end_changes_nothing(self) -> None:
        first = on_contract_ended(alarm(), T0 + 3 * DAY, "contract-evt", T0 + DAY, POLICY)
        assert first is not None
        again = on_contract_ended(first.state, T0 + 3 * DAY, "contract-evt", T0 + DAY, POLICY)
        assert again is not None
        assert again.state is first.state
        assert again.audit == ()

    def test_an_unknown_alarm_needs_nothing(self) -> None:
        assert on_contract_ended(None, T0, "contract-evt", T0, POLICY) is None
