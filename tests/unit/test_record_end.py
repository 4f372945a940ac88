"""The end of an alarm's record (handlers/record_end.py, after_end.py), case by case: when it ends, what
the marker answers, and when it is forgotten. The stateful test (test_policy_properties.py) checks the
same against the reference over random histories; these are the cases it meets only rarely."""

from __future__ import annotations

from datetime import timedelta

from handlers.alarm_events import on_alarm_event
from handlers.audit import AuditType
from handlers.deletions import on_objects_deleted
from handlers.holds import on_hold_placed, on_hold_released
from handlers.policy import next_check_at
from handlers.state import AlarmState, MediaStatus
from handlers.time_passed import on_time_passed
from tests.builders import POLICY, T0, stored, triggered
from tests.unit.policy_examples import LIMIT, placed, released, types

WEEK = timedelta(days=7)
GONE_AT = T0 + WEEK + timedelta(seconds=3)


def deleted_alarm() -> AlarmState:
    """An alarm whose two objects went at R1 and were confirmed."""
    state = on_alarm_event(None, triggered(), T0, POLICY).state
    deleting = on_time_passed(state, T0 + WEEK, "tick", POLICY)
    assert deleting is not None
    done = on_objects_deleted(
        deleting.state, [("media", "a.jpg"), ("media", "b.jpg")], GONE_AT, "done", POLICY
    )
    assert done is not None
    return done.state


class TestWhenARecordEnds:
    def test_at_the_confirmation_of_its_last_deletion_leaving_only_a_marker(self) -> None:
        marker = deleted_alarm()
        assert marker == AlarmState(alarm_id="alarm-1", ended_at=GONE_AT, media_gone_at=GONE_AT)
        assert next_check_at(marker, POLICY) == GONE_AT + POLICY.alarm_marker_lifetime

    def test_not_while_a_hold_is_active_on_an_alarm_whose_media_has_not_come(self) -> None:
        state = on_alarm_event(None, triggered(keys=()), T0, POLICY).state
        held = on_hold_placed(state, placed(at=T0 + timedelta(days=1)), T0 + timedelta(days=1), POLICY).state
        assert held.active_holds
        assert on_time_passed(held, T0 + timedelta(days=20), "tick", POLICY).state == held  # type: ignore[union-attr]
        late = on_alarm_event(held, stored(keys=("late.mp4",)), T0 + timedelta(days=20), POLICY)
        assert late.delete == ()  # kept for the police
        assert late.state.deadline == LIMIT

    def test_an_alarm_without_media_at_its_hold_limit(self) -> None:
        state = on_alarm_event(None, triggered(keys=()), T0, POLICY).state
        assert next_check_at(state, POLICY) == LIMIT
        ended = on_time_passed(state, LIMIT, "tick", POLICY)
        assert ended is not None
        assert ended.state == AlarmState(alarm_id="alarm-1", ended_at=LIMIT)
        answer = on_hold_placed(ended.state, placed(at=LIMIT), LIMIT, POLICY).audit[0]
        assert answer.details["reason"] == "retention_limit_passed"

    def test_holds_for_an_alarm_never_seen_thirty_days_after_they_were_dropped(self) -> None:
        waiting = on_hold_placed(None, placed(at=T0), T0, POLICY).state
        dropped = on_time_passed(waiting, T0 + timedelta(days=30), "tick", POLICY)
        assert dropped is not None
        assert not dropped.forget
        again = on_hold_placed(
            dropped.state, placed(at=T0, event_id=waiting.holds[0].placed_event_id), T0, POLICY
        )
        assert again.audit == ()  # the same placement again: the dropped hold is still known
        later = on_time_passed(dropped.state, T0 + timedelta(days=60), "tick", POLICY)
        assert later is not None
        assert later.forget


class TestWhatTheMarkerAnswers:
    def test_a_new_hold_is_rejected_at_once_with_when_the_media_went(self) -> None:
        outcome = on_hold_placed(deleted_alarm(), placed("hold-9", at=GONE_AT), GONE_AT + WEEK, POLICY)
        (answer,) = outcome.audit
        assert answer.type is AuditType.HOLD_REJECTED
        assert answer.hold_id == "hold-9"
        assert answer.details["reason"] == "media_already_deleted"
        assert answer.details["deleted_at"] == GONE_AT.isoformat()
        assert answer.details["case_reference"] == "2026-POL-1"
        assert outcome.state == deleted_alarm()  # nothing of the hold is kept

    def test_a_hold_answered_before_the_end_delivered_again_changes_nothing(self) -> None:
        state = on_alarm_event(None, triggered(), T0, POLICY).state
        hold = placed(at=T0 + timedelta(days=1))
        held = on_hold_placed(state, hold, T0 + timedelta(days=1), POLICY).state
        release = released(at=T0 + timedelta(days=2))
        freed = on_hold_released(held, release, T0 + timedelta(days=2), POLICY).state
        deleting = on_time_passed(freed, T0 + WEEK, "tick", POLICY)
        assert deleting is not None
        done = on_objects_deleted(
            deleting.state, [("media", "a.jpg"), ("media", "b.jpg")], GONE_AT, "d", POLICY
        )
        assert done is not None
        marker = done.state
        assert marker.ended_hold_ids == ("hold-1",)
        assert on_hold_placed(marker, hold, GONE_AT, POLICY).audit == ()
        assert on_hold_released(marker, release, GONE_AT, POLICY).audit == ()

    def test_an_alarm_event_again_deletes_its_objects_again_and_puts_no_customer_back(self) -> None:
        marker = deleted_alarm()
        outcome = on_alarm_event(marker, triggered(), GONE_AT + WEEK, POLICY)
        assert types(outcome) == [AuditType.EVENT_AFTER_END]
        assert outcome.audit[0].customer_id is None
        assert sorted(m.key for m in outcome.delete) == ["a.jpg", "b.jpg"]
        # Until the store confirms, the keys stay in the marker (a restart resumes the deletion).
        in_flight = outcome.state
        assert (in_flight.customer_id, in_flight.triggered_at, in_flight.holds) == (None, None, ())
        assert [(m.key, m.status) for m in in_flight.media] == [
            ("a.jpg", MediaStatus.DELETING),
            ("b.jpg", MediaStatus.DELETING),
        ]
        again = on_alarm_event(in_flight, triggered(), GONE_AT + WEEK, POLICY)
        assert again.delete == ()  # already under way
        # Not forgotten while a deletion it started is unconfirmed.
        late = on_time_passed(in_flight, GONE_AT + POLICY.alarm_marker_lifetime, "tick", POLICY)
        assert late is not None
        assert not late.forget

    def test_the_confirmation_takes_the_keys_out_of_the_marker_again(self) -> None:
        in_flight = on_alarm_event(deleted_alarm(), triggered(), GONE_AT + WEEK, POLICY).state
        confirmed = on_objects_deleted(
            in_flight, [("media", "a.jpg"), ("media", "b.jpg")], GONE_AT + WEEK, "again", POLICY
        )
        assert confirmed is not None
        assert confirmed.state == deleted_alarm()
        assert types(confirmed) == [AuditType.DELETED_AFTER_END]
        assert on_objects_deleted(confirmed.state, [("media", "a.jpg")], GONE_AT + WEEK, "x", POLICY) is None


class TestWhenAMarkerIsForgotten:
    def test_its_lifetime_after_the_record_ended_and_not_before(self) -> None:
        marker = deleted_alarm()
        forget_at = GONE_AT + POLICY.alarm_marker_lifetime
        early = on_time_passed(marker, forget_at - timedelta(seconds=1), "tick", POLICY)
        assert early is not None
        assert not early.forget
        on_time = on_time_passed(marker, forget_at, "tick", POLICY)
        assert on_time is not None
        assert on_time.forget
        assert on_time.audit == ()
