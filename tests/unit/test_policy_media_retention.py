"""Rule R1: images and video are deleted 7 days after the alarm, never before, and nothing is lost."""

from __future__ import annotations

from datetime import timedelta

from handlers.alarm_events import on_alarm_event
from handlers.audit import AuditType
from handlers.deletions import on_objects_deleted
from handlers.state import AlarmState, MediaStatus, Rule
from handlers.time_passed import on_time_passed
from tests.builders import POLICY, T0, stored, triggered

WEEK = timedelta(days=7)


class TestAnAlarmSchedulesItsMedia:
    def test_deadline_is_seven_days_after_the_alarm(self) -> None:
        outcome = on_alarm_event(None, triggered(), T0 + timedelta(seconds=2), POLICY)
        assert outcome.state.deadline == T0 + WEEK
        assert outcome.state.deadline_rule is Rule.MEDIA_RETENTION
        assert outcome.delete == ()

    def test_one_scheduled_record_names_every_object_and_the_cause(self) -> None:
        event = triggered(keys=("a.jpg", "b.jpg"))
        outcome = on_alarm_event(None, event, T0, POLICY)
        (record,) = outcome.audit
        assert record.type is AuditType.DELETION_SCHEDULED
        assert [(o.bucket, o.key) for o in record.objects] == [("media", "a.jpg"), ("media", "b.jpg")]
        assert record.caused_by == event.event_id
        assert record.deadline == T0 + WEEK
        assert record.customer_id == "customer-1"
        assert record.rule == "R1"

    def test_the_same_event_twice_changes_nothing(self) -> None:
        event = triggered()
        first = on_alarm_event(None, event, T0, POLICY)
        again = on_alarm_event(first.state, event, T0 + timedelta(minutes=1), POLICY)
        assert again.state == first.state
        assert again.audit == ()
        assert again.delete == ()

    def test_audit_ids_are_the_same_when_an_event_is_redelivered(self) -> None:
        event = triggered()
        assert on_alarm_event(None, event, T0, POLICY).audit == on_alarm_event(None, event, T0, POLICY).audit

    def test_media_stored_later_shares_the_alarms_deadline(self) -> None:
        first = on_alarm_event(None, triggered(keys=("a.jpg",)), T0, POLICY)
        later = on_alarm_event(first.state, stored(keys=("clip.mp4",)), T0 + timedelta(minutes=3), POLICY)
        assert [m.key for m in later.state.media] == ["a.jpg", "clip.mp4"]
        assert later.state.deadline == T0 + WEEK
        assert [r.object_keys() for r in later.audit] == [["clip.mp4"]]

    def test_media_stored_before_its_alarm_triggered_event_is_kept_track_of(self) -> None:
        early = on_alarm_event(None, stored(keys=("clip.mp4",)), T0, POLICY)
        assert early.state.deadline == T0 + WEEK
        both = on_alarm_event(early.state, triggered(keys=("a.jpg",)), T0, POLICY)
        assert {m.key for m in both.state.pending} == {"a.jpg", "clip.mp4"}

    def test_a_conflicting_account_keeps_the_first_values_and_the_new_media(self) -> None:
        first = on_alarm_event(None, triggered(keys=("a.jpg",)), T0, POLICY)
        odd = stored(keys=("b.jpg",), at=T0 + timedelta(days=2), customer_id="customer-2")
        outcome = on_alarm_event(first.state, odd, T0 + timedelta(days=2), POLICY)
        assert outcome.state.triggered_at == T0
        assert outcome.state.customer_id == "customer-1"
        assert outcome.state.deadline == T0 + WEEK
        assert "b.jpg" in {m.key for m in outcome.state.pending}
        conflict = [r for r in outcome.audit if r.type is AuditType.CONFLICTING_EVENT]
        assert conflict[0].details["fields"] == "customer_id,triggered_at"

    def test_a_trigger_time_far_in_the_future_is_refused(self) -> None:
        event = triggered(at=T0 + timedelta(hours=1))
        outcome = on_alarm_event(None, event, T0, POLICY)
        assert outcome.rejection is not None
        assert "in the future" in outcome.rejection

    def test_small_clock_skew_is_tolerated(self) -> None:
        outcome = on_alarm_event(None, triggered(at=T0 + timedelta(minutes=4)), T0, POLICY)
        assert outcome.rejection is None


class TestTheDeadline:
    def test_nothing_is_deleted_before_it(self) -> None:
        state = on_alarm_event(None, triggered(), T0, POLICY).state
        outcome = on_time_passed(state, T0 + WEEK - timedelta(microseconds=1), "tick", POLICY)
        assert outcome is not None
        assert outcome.delete == ()
        assert outcome.state is state

    def test_at_the_deadline_every_pending_object_is_handed_over(self) -> None:
        state = on_alarm_event(None, triggered(keys=("a.jpg", "b.jpg")), T0, POLICY).state
        outcome = on_time_passed(state, T0 + WEEK, "tick", POLICY)
        assert outcome is not None
        assert [m.key for m in outcome.delete] == ["a.jpg", "b.jpg"]
        assert all(m.status is MediaStatus.DELETING for m in outcome.state.media)
        assert all(m.due_at == T0 + WEEK and m.due_rule is Rule.MEDIA_RETENTION for m in outcome.delete)
        assert outcome.state.deadline is None

    def test_a_second_tick_does_not_hand_them_over_again(self) -> None:
        state = on_alarm_event(None, triggered(), T0, POLICY).state
        first = on_time_passed(state, T0 + WEEK, "tick", POLICY)
        assert first is not None
        again = on_time_passed(first.state, T0 + WEEK + timedelta(seconds=30), "tick", POLICY)
        assert again is not None
        assert again.delete == ()

    def test_an_alarm_we_never_heard_of_needs_nothing(self) -> None:
        assert on_time_passed(None, T0, "tick", POLICY) is None

    def test_media_that_arrives_after_the_deadline_goes_at_once(self) -> None:
        state = on_alarm_event(None, triggered(keys=("a.jpg",)), T0, POLICY).state
        late = on_alarm_event(state, stored(keys=("clip.mp4",)), T0 + WEEK + timedelta(hours=1), POLICY)
        assert [m.key for m in late.delete] == ["a.jpg", "clip.mp4"]

    def test_an_old_alarm_arriving_late_is_deleted_at_once(self) -> None:
        outcome = on_alarm_event(None, triggered(), T0 + timedelta(days=8), POLICY)
        assert len(outcome.delete) == 2
        assert [r.type for r in outcome.audit] == [AuditType.DELETION_SCHEDULED]


class TestConfirmedDeletions:
    def _deleting(self) -> AlarmState:
        state = on_alarm_event(None, triggered(keys=("a.jpg", "b.jpg")), T0, POLICY).state
        outcome = on_time_passed(state, T0 + WEEK, "tick", POLICY)
        assert outcome is not None
        return outcome.state

    def test_a_confirmation_records_the_deletion_and_how_late_it_was(self) -> None:
        deleted_at = T0 + WEEK + timedelta(milliseconds=250)
        outcome = on_objects_deleted(self._deleting(), [("media", "a.jpg")], deleted_at, "cmd-1", POLICY)
        assert outcome is not None
        (record,) = outcome.audit
        assert record.type is AuditType.DELETED
        assert (record.object_keys(), record.deadline, record.occurred_at) == (
            ["a.jpg"],
            T0 + WEEK,
            deleted_at,
        )
        assert record.details == {"lateness_seconds": "0.250"}
        assert outcome.state.find_media("media", "a.jpg").status is MediaStatus.DELETED  # type: ignore[union-attr]
        assert outcome.state.find_media("media", "b.jpg").status is MediaStatus.DELETING  # type: ignore[union-attr]

    def test_a_redelivered_confirmation_changes_nothing(self) -> None:
        done = on_objects_deleted(self._deleting(), [("media", "a.jpg")], T0 + WEEK, "cmd-1", POLICY)
        assert done is not None
        again = on_objects_deleted(done.state, [("media", "a.jpg")], T0 + WEEK, "cmd-1", POLICY)
        assert again is not None
        assert again.state is done.state
        assert again.audit == ()

    def test_two_confirmations_of_one_deletion_share_the_audit_id(self) -> None:
        # A worker killed after deleting but before committing: its successor confirms again.
        state = self._deleting()
        first = on_objects_deleted(state, [("media", "a.jpg")], T0 + WEEK, "cmd-1", POLICY)
        second = on_objects_deleted(state, [("media", "a.jpg")], T0 + WEEK, "cmd-2", POLICY)
        assert first is not None
        assert second is not None
        assert first.audit[0].audit_id == second.audit[0].audit_id

    def test_a_confirmation_for_unknown_objects_changes_nothing(self) -> None:
        state = self._deleting()
        outcome = on_objects_deleted(state, [("media", "other.jpg")], T0 + WEEK, "cmd-1", POLICY)
        assert outcome is not None
        assert outcome.state is state

    def test_new_media_after_a_deletion_gets_its_own_deadline_handling(self) -> None:
        state = self._deleting()
        late = on_alarm_event(state, stored(keys=("late.mp4",)), T0 + WEEK + timedelta(days=1), POLICY)
        assert [m.key for m in late.delete] == ["late.mp4"]
