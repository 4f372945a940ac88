"""Rule R2: police holds keep media up to 30 days after the alarm, and every hold gets an answer."""

from __future__ import annotations

from datetime import datetime, timedelta

from handlers.alarm_events import on_alarm_event
from handlers.audit import AuditType
from handlers.deletions import on_objects_deleted
from handlers.holds import on_hold_placed, on_hold_released
from handlers.policy import next_check_at
from handlers.state import AlarmState, MediaStatus, Rule
from handlers.time_passed import on_time_passed
from tests.builders import POLICY, T0, stored, triggered
from tests.unit.policy_examples import LIMIT, placed, released, types

WEEK = timedelta(days=7)


def alarm(keys: tuple[str, ...] = ("a.jpg", "b.jpg"), bucket: str = "media") -> AlarmState:
    return on_alarm_event(None, triggered(keys=keys, bucket=bucket), T0, POLICY).state


def held(at: datetime = T0 + timedelta(days=1)) -> AlarmState:
    return on_hold_placed(alarm(), placed(at=at), at, POLICY).state


class TestPlacingAHold:
    def test_the_media_is_kept_until_the_hold_limit(self) -> None:
        outcome = on_hold_placed(alarm(), placed(), T0 + timedelta(days=1), POLICY)
        assert outcome.state.deadline == LIMIT
        assert outcome.state.deadline_rule is Rule.HOLD_LIMIT
        assert types(outcome) == [AuditType.HOLD_ACCEPTED, AuditType.RETENTION_EXTENDED]
        extended = outcome.audit[1]
        assert extended.object_keys() == ["a.jpg", "b.jpg"]
        assert extended.deadline == LIMIT
        assert extended.details["previous_deadline"] == (T0 + WEEK).isoformat()

    def test_the_objects_get_an_s3_legal_hold(self) -> None:
        outcome = on_hold_placed(alarm(), placed(), T0 + timedelta(days=1), POLICY)
        assert {m.key for m in outcome.legal_hold_on} == {"a.jpg", "b.jpg"}
        assert all(m.legal_hold for m in outcome.state.media)

    def test_the_answer_names_the_case_and_who_asked(self) -> None:
        accepted = on_hold_placed(alarm(), placed(), T0 + timedelta(days=1), POLICY).audit[0]
        assert accepted.hold_id == "hold-1"
        assert accepted.details["case_reference"] == "2026-POL-1"
        assert accepted.details["placed_by"] == "liaison@police"
        assert accepted.details["kept_until"] == LIMIT.isoformat()

    def test_media_stored_while_held_is_kept_too(self) -> None:
        outcome = on_alarm_event(held(), stored(keys=("late.mp4",)), T0 + timedelta(days=2), POLICY)
        late = outcome.state.find_media("media", "late.mp4")
        assert late is not None
        assert late.legal_hold
        assert outcome.state.deadline == LIMIT
        assert [m.key for m in outcome.legal_hold_on] == ["late.mp4"]

    def test_the_same_event_redelivered_changes_nothing_and_repeats_its_answer(self) -> None:
        # After a crash the state may have reached the changelog while the answer did not reach the
        # audit topic: the redelivered event publishes the same answer again, with the same audit id.
        event = placed()
        first = on_hold_placed(alarm(), event, T0 + timedelta(days=1), POLICY)
        again = on_hold_placed(first.state, event, T0 + timedelta(days=2), POLICY)
        assert again.state is first.state
        answer = next(r for r in first.audit if r.type is AuditType.HOLD_ACCEPTED)
        assert [(r.type, r.audit_id) for r in again.audit] == [(AuditType.HOLD_ACCEPTED, answer.audit_id)]

    def test_a_redelivered_rejected_placement_repeats_its_rejection(self) -> None:
        event = placed(at=T0 + timedelta(days=31))
        first = on_hold_placed(alarm(), event, T0 + timedelta(days=31), POLICY)
        again = on_hold_placed(first.state, event, T0 + timedelta(days=32), POLICY)
        [rejection] = [r for r in first.audit if r.type is AuditType.HOLD_REJECTED]
        assert [(r.audit_id, r.details["reason"]) for r in again.audit] == [
            (rejection.audit_id, "retention_limit_passed")
        ]

    def test_a_redelivered_alarm_event_repeats_its_answers_to_holds_that_waited(self) -> None:
        waiting = on_hold_placed(None, placed(at=T0 + timedelta(hours=1)), T0 + timedelta(hours=1), POLICY)
        alarm_event = triggered()
        first = on_alarm_event(waiting.state, alarm_event, T0 + timedelta(hours=2), POLICY)
        again = on_alarm_event(first.state, alarm_event, T0 + timedelta(hours=3), POLICY)
        accepted = next(r for r in first.audit if r.type is AuditType.HOLD_ACCEPTED)
        assert again.state == first.state
        assert [r.audit_id for r in again.audit] == [accepted.audit_id]

    def test_a_second_placement_of_the_same_hold_is_recorded_as_a_duplicate(self) -> None:
        first = on_hold_placed(alarm(), placed(), T0 + timedelta(days=1), POLICY)
        again = on_hold_placed(first.state, placed(), T0 + timedelta(days=1), POLICY)
        assert types(again) == [AuditType.HOLD_DUPLICATE]
        assert again.state == first.state


class TestAHoldThatComesTooLate:
    def test_after_deletion_began_it_is_rejected_saying_when(self) -> None:
        due = on_time_passed(alarm(), T0 + WEEK, "tick", POLICY)
        assert due is not None
        outcome = on_hold_placed(due.state, placed(at=T0 + WEEK), T0 + WEEK + timedelta(seconds=1), POLICY)
        assert types(outcome) == [AuditType.HOLD_REJECTED]
        assert outcome.audit[0].details == {
            "reason": "media_already_deleted",
            "deleted_at": (T0 + WEEK).isoformat(),
        }
        assert outcome.delete == ()
        assert outcome.legal_hold_on == ()

    def test_after_deletion_finished_it_names_the_deletion_time(self) -> None:
        due = on_time_passed(alarm(), T0 + WEEK, "tick", POLICY)
        assert due is not None
        deleted_at = T0 + WEEK + timedelta(seconds=2)
        gone = on_objects_deleted(
            due.state, [("media", "a.jpg"), ("media", "b.jpg")], deleted_at, "c", POLICY
        )
        assert gone is not None
        outcome = on_hold_placed(gone.state, placed(at=T0 + WEEK), T0 + timedelta(days=8), POLICY)
        assert outcome.audit[0].details["deleted_at"] == deleted_at.isoformat()

    def test_after_the_hold_limit_it_is_rejected(self) -> None:
        outcome = on_hold_placed(alarm(), placed(at=LIMIT), LIMIT + timedelta(seconds=1), POLICY)
        assert types(outcome) == [AuditType.HOLD_REJECTED]
        assert outcome.audit[0].details["reason"] == "retention_limit_passed"

    def test_a_placement_time_in_the_future_is_refused(self) -> None:
        outcome = on_hold_placed(alarm(), placed(at=T0 + timedelta(days=3)), T0 + timedelta(days=1), POLICY)
        assert outcome.rejection is not None


class TestReleasingAHold:
    def test_the_normal_deadline_comes_back(self) -> None:
        outcome = on_hold_released(
            held(), released(at=T0 + timedelta(days=2)), T0 + timedelta(days=2), POLICY
        )
        assert outcome.state.deadline == T0 + WEEK
        assert outcome.state.deadline_rule is Rule.MEDIA_RETENTION
        assert types(outcome) == [AuditType.HOLD_RELEASED, AuditType.DELETION_SCHEDULED]
        assert {m.key for m in outcome.legal_hold_off} == {"a.jpg", "b.jpg"}

    def test_released_after_the_normal_deadline_the_media_goes_now(self) -> None:
        when = T0 + timedelta(days=10)
        outcome = on_hold_released(held(), released(at=when), when, POLICY)
        assert {m.key for m in outcome.delete} == {"a.jpg", "b.jpg"}
        assert all(m.due_at == when for m in outcome.delete)
        # Our legal hold is lifted by the deleter just before the deletion.
        assert all(m.legal_hold for m in outcome.delete)
        assert outcome.legal_hold_off == ()

    def test_one_of_two_holds_released_keeps_the_media(self) -> None:
        state = on_hold_placed(held(), placed("hold-2"), T0 + timedelta(days=1), POLICY).state
        outcome = on_hold_released(
            state, released("hold-1", at=T0 + timedelta(days=10)), T0 + timedelta(days=10), POLICY
        )
        assert outcome.delete == ()
        assert outcome.state.deadline == LIMIT
        assert outcome.audit[0].details["holds_still_active"] == "1"

    def test_a_release_of_an_unknown_hold_is_recorded_and_remembered(self) -> None:
        outcome = on_hold_released(alarm(), released("ghost"), T0 + timedelta(days=2), POLICY)
        assert types(outcome) == [AuditType.HOLD_RELEASE_UNMATCHED]
        assert outcome.state.deadline == T0 + WEEK

    def test_a_placement_after_its_own_release_is_rejected(self) -> None:
        early = on_hold_released(alarm(), released(), T0 + timedelta(days=2), POLICY)
        late = on_hold_placed(early.state, placed(), T0 + timedelta(days=2), POLICY)
        assert types(late) == [AuditType.HOLD_REJECTED]
        assert late.audit[0].details["reason"] == "already_released"
        assert late.state.deadline == T0 + WEEK
        assert late.legal_hold_on == ()

    def test_a_duplicate_release_is_recorded_and_changes_nothing(self) -> None:
        first = on_hold_released(held(), released(), T0 + timedelta(days=2), POLICY)
        again = on_hold_released(first.state, released(), T0 + timedelta(days=2), POLICY)
        assert types(again) == [AuditType.HOLD_DUPLICATE]
        assert again.state == first.state


class TestTheHoldLimit:
    def test_the_police_liaison_is_warned_a_day_before(self) -> None:
        state = held()
        assert next_check_at(state, POLICY) == LIMIT - timedelta(hours=24)
        outcome = on_time_passed(state, LIMIT - timedelta(hours=24), "tick", POLICY)
        assert outcome is not None
        assert types(outcome) == [AuditType.HOLD_EXPIRING]
        assert outcome.audit[0].details["expires_at"] == LIMIT.isoformat()
        again = on_time_passed(outcome.state, LIMIT - timedelta(hours=23), "tick", POLICY)
        assert again is not None
        assert again.audit == ()
        assert next_check_at(outcome.state, POLICY) == LIMIT

    def test_at_the_limit_held_media_is_deleted_and_the_hold_expires(self) -> None:
        outcome = on_time_passed(held(), LIMIT, "tick", POLICY)
        assert outcome is not None
        assert types(outcome)[0] == AuditType.HOLD_EXPIRED
        assert {m.key for m in outcome.delete} == {"a.jpg", "b.jpg"}
        assert all(m.due_at == LIMIT and m.due_rule is Rule.HOLD_LIMIT for m in outcome.delete)
        assert all(m.legal_hold for m in outcome.delete)  # lifted just before deletion

    def test_nothing_is_deleted_a_moment_before_the_limit(self) -> None:
        outcome = on_time_passed(held(), LIMIT - timedelta(microseconds=1), "tick", POLICY)
        assert outcome is not None
        assert outcome.delete == ()


class TestAHoldBeforeItsAlarm:
    def test_it_waits_and_is_accepted_when_the_alarm_comes(self) -> None:
        waiting = on_hold_placed(
            None, placed(at=T0 + timedelta(minutes=1)), T0 + timedelta(minutes=1), POLICY
        )
        assert types(waiting) == [AuditType.HOLD_WAITING]
        outcome = on_alarm_event(waiting.state, triggered(), T0 + timedelta(minutes=2), POLICY)
        assert AuditType.HOLD_ACCEPTED in types(outcome)
        assert outcome.state.deadline == LIMIT
        assert all(m.legal_hold for m in outcome.state.media)

    def test_it_is_dropped_if_the_alarm_never_comes(self) -> None:
        at = T0 + timedelta(minutes=1)
        waiting = on_hold_placed(None, placed(at=at), at, POLICY).state
        assert next_check_at(waiting, POLICY) == at + timedelta(days=30)
        outcome = on_time_passed(waiting, at + timedelta(days=30), "tick", POLICY)
        assert outcome is not None
        assert types(outcome) == [AuditType.HOLD_DROPPED]
        assert outcome.audit[0].details["reason"] == "alarm_never_seen"
        # Only a hold, no longer active, for an alarm never seen: its record ends 30 days on (a
        # redelivered placement still finds it dropped meanwhile).
        dropped = outcome.state
        assert not outcome.forget
        assert next_check_at(dropped, POLICY) == at + timedelta(days=60)
        later = on_time_passed(dropped, at + timedelta(days=60), "tick", POLICY)
        assert later is not None
        assert later.forget
        assert later.audit == ()

    def test_an_alarm_arriving_after_the_limit_rejects_the_waiting_hold(self) -> None:
        at = T0 + timedelta(minutes=1)
        waiting = on_hold_placed(None, placed(at=at), at, POLICY).state
        outcome = on_alarm_event(waiting, triggered(), T0 + timedelta(days=30), POLICY)
        assert AuditType.HOLD_REJECTED in types(outcome)
        assert len(outcome.delete) == 2


class TestAReleaseRacingTheDeletion:
    def test_media_already_handed_to_the_deleter_is_not_pulled_back(self) -> None:
        due = on_time_passed(alarm(), T0 + WEEK, "tick", POLICY)
        assert due is not None
        assert all(m.status is MediaStatus.DELETING for m in due.state.media)
        later = on_hold_placed(due.state, placed(at=T0 + WEEK), T0 + WEEK, POLICY)
        assert all(m.status is MediaStatus.DELETING for m in later.state.media)
