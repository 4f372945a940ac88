"""The customer's rights over media: erasure now except what the police hold, restriction, access;
and the answer always says what the partitions actually do."""

from __future__ import annotations

from datetime import timedelta

import pytest

from handlers.alarm_events import on_alarm_event
from handlers.audit import AuditType
from handlers.customer_rights import (
    KEPT_FOR_POLICE,
    answer_access,
    answer_erasure,
    answer_restriction,
    on_erasure_requested,
    on_restriction_requested,
)
from handlers.erasure import on_contract_ended as schedule_contract_end
from handlers.holds import on_hold_placed, on_hold_released
from handlers.state import AlarmState, MediaStatus, Rule
from tests.builders import POLICY, T0, triggered
from tests.unit.policy_examples import LIMIT, placed, released, types
from tests.unit.test_erasure import SCHEDULE

DAY = timedelta(days=1)
ASKED = T0 + 2 * DAY


def alarm(alarm_id: str = "alarm-1", keys: tuple[str, ...] = ("a.jpg", "b.jpg")) -> AlarmState:
    return on_alarm_event(None, triggered(alarm_id, keys=keys), T0, POLICY).state


def held(alarm_id: str = "alarm-2") -> AlarmState:
    hold = placed().model_copy(update={"alarm_id": alarm_id})
    outcome = on_hold_placed(alarm(alarm_id, keys=("held.jpg",)), hold, T0 + DAY, POLICY)
    assert outcome is not None
    return outcome.state


class TestErasureRequest:
    def test_media_not_held_goes_now(self) -> None:
        outcome = on_erasure_requested(alarm(), ASKED, "req-evt", ASKED, POLICY)
        assert outcome is not None
        assert sorted(m.key for m in outcome.delete) == ["a.jpg", "b.jpg"]
        assert all(m.due_at == ASKED and m.due_rule is Rule.ERASURE_REQUEST for m in outcome.delete)
        assert types(outcome)[0] == AuditType.ERASURE_REQUESTED

    def test_held_media_is_kept_until_the_hold_ends_and_then_goes_at_once(self) -> None:
        outcome = on_erasure_requested(held(), ASKED, "req-evt", ASKED, POLICY)
        assert outcome is not None
        assert outcome.delete == ()
        assert outcome.state.deadline == LIMIT
        assert outcome.audit[0].details["kept_for_holds"] == "hold-1"
        assert outcome.audit[0].details["kept_at_most_until"] == LIMIT.isoformat()
        release = on_hold_released(outcome.state, released(at=ASKED + DAY), ASKED + DAY, POLICY)
        assert release is not None
        assert [m.key for m in release.delete] == ["held.jpg"]

    def test_the_same_request_again_changes_nothing(self) -> None:
        first = on_erasure_requested(held(), ASKED, "req-evt", ASKED, POLICY)
        assert first is not None
        again = on_erasure_requested(first.state, ASKED, "req-evt", ASKED + DAY, POLICY)
        assert again is not None
        assert (again.state, again.audit, again.delete) == (first.state, (), ())

    def test_an_unknown_alarm_is_nothing_to_do(self) -> None:
        assert on_erasure_requested(None, ASKED, "req-evt", ASKED, POLICY) is None


class TestRestriction:
    def test_restriction_marks_the_media_and_changes_no_deadline(self) -> None:
        state = alarm()
        outcome = on_restriction_requested(state, ASKED, "req-evt", ASKED, POLICY)
        assert outcome is not None
        assert outcome.state.restricted_at == ASKED
        assert outcome.state.deadline == state.deadline
        assert outcome.delete == ()
        assert types(outcome) == [AuditType.RESTRICTED]

    def test_the_answer_lists_what_is_marked(self) -> None:
        answer = answer_restriction("r-1", "customer-1", [alarm()], ASKED, POLICY)
        assert [m.key for m in answer.media] == ["a.jpg", "b.jpg"]
        assert all(m.restricted for m in answer.media)


class TestAnswers:
    @pytest.mark.parametrize("with_hold", [False, True])
    def test_the_erasure_answer_is_what_the_partitions_do(self, with_hold: bool) -> None:
        states = [alarm(), held()] if with_hold else [alarm()]
        answer = answer_erasure("r-1", "customer-1", states, ASKED, POLICY)
        done = [on_erasure_requested(s, ASKED, "req-evt", ASKED, POLICY) for s in states]
        deleted = sorted(m.key for o in done if o for m in o.delete)
        kept = sorted(m.key for o in done if o for m in o.state.media if m.status is MediaStatus.PENDING)
        assert sorted(m.key for m in answer.media) == deleted
        assert sorted(m.key for m in answer.kept) == kept
        assert answer.kept_because == (KEPT_FOR_POLICE if with_hold else None)
        assert all(m.kept_until == LIMIT for m in answer.kept)

    def test_the_access_answer_lists_every_object_and_the_schedule_of_other_data(self) -> None:
        other = schedule_contract_end(None, "customer-1", ASKED, "end-evt", SCHEDULE, ASKED).record
        answer = answer_access("r-1", "customer-1", [alarm(), held()], other, ASKED, POLICY)
        assert [m.key for m in answer.media] == ["a.jpg", "b.jpg", "held.jpg"]
        by_key = {m.key: m for m in answer.media}
        assert by_key["a.jpg"].deadline == T0 + 7 * DAY
        assert by_key["a.jpg"].rule == "R1"
        assert by_key["held.jpg"].kept_for_police
        assert by_key["held.jpg"].kept_until == LIMIT
        assert sorted(o.rule for o in answer.other_data) == ["R3", "R4", "R5", "R6", "R7"]
        # The export for portability is the answer itself: JSON that reads back the same.
        assert type(answer).model_validate_json(answer.model_dump_json()) == answer


class TestDisclosuresInTheAccessAnswer:
    def test_lists_each_handover_once_from_the_states_and_the_audit_trail(self) -> None:
        from dataclasses import replace as _replace

        from handlers.customer_rights import Disclosed, answer_access
        from handlers.state import AlarmState, Disclosure

        at = T0 + timedelta(days=1)
        live = Disclosure("h-1", "hold-1", "police", "unit-a", (("b", "k1"),), at, "basis", "00")
        state = _replace(AlarmState(alarm_id="a1", customer_id="c1"), disclosures=(live,))
        recorded = [
            Disclosed(handover_id="h-1", alarm_id="a1", objects=["k1"], recipient="police", unit="unit-a",
                      disclosed_at=at, legal_basis="basis"),
            Disclosed(handover_id="h-0", alarm_id="a0", objects=["x"], recipient="police", unit="unit-a",
                      disclosed_at=T0, legal_basis="basis"),
        ]  # fmt: skip
        answer = answer_access("r1", "c1", [state], None, at, POLICY, None, recorded)
        assert [(d.handover_id, d.alarm_id) for d in answer.disclosures] == [("h-0", "a0"), ("h-1", "a1")]


class TestADisclosureRecordedAfterTheAlarmsRecordEnded:
    def test_still_names_the_customer_and_the_case(self) -> None:
        from dataclasses import replace as _replace

        from handlers.commands import DisclosedObject, MediaDisclosed
        from handlers.disclosure import on_media_disclosed
        from handlers.state import AlarmState

        marker = _replace(AlarmState(alarm_id="a1"), ended_at=T0, media_gone_at=T0)
        command = MediaDisclosed(
            event_id="h-1", alarm_id="a1", hold_id="hold-1", unit="unit-a", requested_by="liaison",
            customer_id="c1", case_reference="case-1", manifest_sha256="00", disclosed_at=T0,
            objects=(DisclosedObject(bucket="b", key="k", version_id="v", size=1, sha256="0" * 64),),
        )  # fmt: skip
        outcome = on_media_disclosed(marker, command, T0)
        (record,) = outcome.audit
        assert (record.customer_id, record.details["case_reference"]) == ("c1", "case-1")
        assert outcome.state.disclosures == ()  # a marker keeps none of it
