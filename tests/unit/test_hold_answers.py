"""Rule R2, as the police and the auditor read it: every hold gets an answer that says what is kept, until
when, for which case, and why not when it is refused; releases and duplicates are recorded by name."""

from __future__ import annotations

from datetime import timedelta

from handlers.alarm_events import on_alarm_event
from handlers.audit import AuditRecord, AuditType
from handlers.holds import on_hold_placed, on_hold_released
from handlers.state import AlarmState
from handlers.time_passed import on_time_passed
from tests.builders import POLICY, T0, stored, triggered
from tests.unit.policy_examples import LIMIT, placed, released, types

DAY = timedelta(days=1)


def alarm() -> AlarmState:
    return on_alarm_event(None, triggered(keys=("a.jpg", "b.jpg")), T0, POLICY).state


def held() -> AlarmState:
    return on_hold_placed(alarm(), placed(), T0 + DAY, POLICY).state


def only(outcome_audit: tuple[AuditRecord, ...], kind: AuditType) -> AuditRecord:
    [found] = [r for r in outcome_audit if r.type is kind]
    return found


class TestAnAcceptedHoldSaysWhatIsKeptUntilWhenAndForWhom:
    def test_it_names_the_hold_the_limit_the_case_and_who_placed_and_asked_for_it(self) -> None:
        event = placed().model_copy(update={"requested_by": "investigator@police"})
        accepted = only(on_hold_placed(alarm(), event, T0 + DAY, POLICY).audit, AuditType.HOLD_ACCEPTED)
        assert (accepted.hold_id, accepted.deadline) == ("hold-1", LIMIT)
        assert accepted.details == {
            "kept_until": LIMIT.isoformat(),
            "case_reference": "2026-POL-1",
            "placed_by": "liaison@police",
            "requested_by": "investigator@police",
            "objects_kept": "2",
        }

    def test_a_hold_accepted_at_once_does_not_say_it_waited_for_its_alarm(self) -> None:
        accepted = only(on_hold_placed(alarm(), placed(), T0 + DAY, POLICY).audit, AuditType.HOLD_ACCEPTED)
        assert "waited_for_alarm" not in accepted.details

    def test_a_hold_accepted_when_its_alarm_came_says_it_waited(self) -> None:
        at = T0 + timedelta(minutes=1)
        waiting = on_hold_placed(None, placed(at=at), at, POLICY).state
        outcome = on_alarm_event(waiting, triggered(), T0 + timedelta(minutes=2), POLICY)
        assert only(outcome.audit, AuditType.HOLD_ACCEPTED).details["waited_for_alarm"] == "true"

    def test_media_already_handed_to_the_deleter_is_counted_apart_from_the_media_kept(self) -> None:
        # The deadline passed while the worker could not yet delete (after a restart): the late clip
        # stayed pending, the first image was already being deleted. A hold now keeps only the clip.
        due = on_time_passed(
            on_alarm_event(None, triggered(keys=("a.jpg",)), T0, POLICY).state, T0 + 7 * DAY, "t", POLICY
        )
        assert due is not None
        late = T0 + 7 * DAY + timedelta(hours=1)
        clip = on_alarm_event(due.state, stored(keys=("clip.mp4",)), late, POLICY, deletions_allowed=False)
        outcome = on_hold_placed(clip.state, placed(at=late), late, POLICY)
        accepted = only(outcome.audit, AuditType.HOLD_ACCEPTED)
        assert (accepted.details["objects_kept"], accepted.details["objects_already_being_deleted"]) == (
            "1",
            "1",
        )
        assert [m.key for m in outcome.state.pending] == ["clip.mp4"]


class TestAHoldWaitingForItsAlarmSaysHowLongItWaits:
    def test_it_waits_at_most_the_hold_limit_counted_from_its_placement(self) -> None:
        at = T0 + timedelta(hours=3)
        waiting = on_hold_placed(None, placed(at=at), at, POLICY)
        record = only(waiting.audit, AuditType.HOLD_WAITING)
        assert record.hold_id == "hold-1"
        assert record.details == {"waits_until": (at + timedelta(days=30)).isoformat()}


class TestAHoldAtOrPastTheHoldLimitIsRefused:
    def test_a_hold_arriving_at_the_very_moment_of_the_limit_keeps_nothing(self) -> None:
        # At the limit the media is due (R2: at most 30 days), so a hold then can no longer keep it.
        outcome = on_hold_placed(alarm(), placed(at=LIMIT), LIMIT, POLICY)
        assert types(outcome)[0] == AuditType.HOLD_REJECTED
        assert {m.key for m in outcome.delete} == {"a.jpg", "b.jpg"}
        assert outcome.legal_hold_on == ()

    def test_the_refusal_names_the_limit_that_passed(self) -> None:
        outcome = on_hold_placed(alarm(), placed(at=LIMIT), LIMIT + DAY, POLICY)
        assert only(outcome.audit, AuditType.HOLD_REJECTED).details == {
            "reason": "retention_limit_passed",
            "limit": LIMIT.isoformat(),
        }

    def test_media_still_pending_past_the_limit_goes_when_the_refused_hold_arrives(self) -> None:
        # Deletions were held back (a restart) until after the limit; the next event lets the media go.
        kept_back = on_alarm_event(None, triggered(), LIMIT + DAY, POLICY, deletions_allowed=False).state
        assert len(kept_back.pending) == 2
        outcome = on_hold_placed(kept_back, placed(at=LIMIT + DAY), LIMIT + DAY, POLICY)
        assert types(outcome)[0] == AuditType.HOLD_REJECTED
        assert {m.key for m in outcome.delete} == {"a.jpg", "b.jpg"}


class TestAReleaseIsRecordedByNameAndSaysWhatItChanged:
    def test_the_release_names_the_hold_who_released_it_and_who_asked(self) -> None:
        event = released(at=T0 + 2 * DAY).model_copy(update={"requested_by": "investigator@police"})
        outcome = on_hold_released(held(), event, T0 + 2 * DAY, POLICY)
        record = only(outcome.audit, AuditType.HOLD_RELEASED)
        assert record.hold_id == "hold-1"
        assert record.details == {
            "requested_by": "investigator@police",
            "released_by": "liaison@police",
            "was_active": "true",
            "holds_still_active": "0",
        }
        assert outcome.state.find_hold("hold-1").released_by == "liaison@police"  # type: ignore[union-attr]

    def test_a_release_after_the_hold_expired_says_it_was_no_longer_keeping_anything(self) -> None:
        expired = on_time_passed(held(), LIMIT, "tick", POLICY)
        assert expired is not None
        outcome = on_hold_released(expired.state, released(at=LIMIT + DAY), LIMIT + DAY, POLICY)
        details = only(outcome.audit, AuditType.HOLD_RELEASED).details
        assert (details["was_active"], details["holds_still_active"]) == ("false", "0")

    def test_a_release_of_a_hold_not_yet_placed_names_the_hold_and_who_released_it(self) -> None:
        outcome = on_hold_released(alarm(), released("ghost"), T0 + 2 * DAY, POLICY)
        record = only(outcome.audit, AuditType.HOLD_RELEASE_UNMATCHED)
        assert record.hold_id == "ghost"
        assert record.details["released_by"] == "liaison@police"
        assert record.details["note"]

    def test_a_hold_released_while_waiting_for_its_alarm_is_dropped_and_never_keeps_anything(self) -> None:
        at = T0 + timedelta(minutes=1)
        waiting = on_hold_placed(None, placed(at=at), at, POLICY).state
        outcome = on_hold_released(waiting, released(at=at + DAY), at + DAY, POLICY)
        record = only(outcome.audit, AuditType.HOLD_DROPPED)
        assert record.details == {"reason": "released_before_alarm_seen", "released_by": "liaison@police"}
        hold = outcome.state.find_hold("hold-1")
        assert hold is not None
        assert hold.dropped_at == at + DAY
        assert not hold.accepted

    def test_a_release_dated_in_the_future_is_refused_and_changes_nothing(self) -> None:
        state = held()
        outcome = on_hold_released(state, released(at=T0 + 3 * DAY), T0 + 2 * DAY, POLICY)
        assert outcome.rejection is not None
        assert "released_at" in outcome.rejection
        assert "in the future" in outcome.rejection
        assert outcome.state is state
        assert outcome.audit == ()

    def test_a_placement_dated_in_the_future_is_refused_and_changes_nothing(self) -> None:
        state = alarm()
        outcome = on_hold_placed(state, placed(at=T0 + 3 * DAY), T0 + DAY, POLICY)
        assert outcome.rejection is not None
        assert outcome.state is state
        assert outcome.audit == ()


class TestADuplicateIsRecordedAgainstItsHold:
    def test_a_second_placement_by_another_event_names_the_hold_and_changes_nothing(self) -> None:
        first = on_hold_placed(alarm(), placed(), T0 + DAY, POLICY)
        again = on_hold_placed(first.state, placed(), T0 + DAY, POLICY)
        duplicate = only(again.audit, AuditType.HOLD_DUPLICATE)
        assert duplicate.hold_id == "hold-1"
        assert duplicate.details["note"]
        assert again.state == first.state

    def test_a_second_release_by_another_event_names_the_hold_and_changes_nothing(self) -> None:
        first = on_hold_released(held(), released(), T0 + 2 * DAY, POLICY)
        again = on_hold_released(first.state, released(), T0 + 2 * DAY, POLICY)
        duplicate = only(again.audit, AuditType.HOLD_DUPLICATE)
        assert duplicate.hold_id == "hold-1"
        assert duplicate.details["note"]
        assert again.state == first.state
