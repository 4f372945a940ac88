"""The object store's confirmations: each object's deletion is recorded once, with the deadline and the
rule it was deleted under, and a confirmation changes nothing about the media still kept."""

from __future__ import annotations

from datetime import timedelta

from handlers.alarm_events import on_alarm_event
from handlers.audit import AuditType
from handlers.deletions import on_objects_deleted
from handlers.holds import on_hold_placed
from handlers.state import AlarmState, MediaStatus
from handlers.time_passed import on_time_passed
from tests.builders import POLICY, T0, stored, triggered
from tests.unit.policy_examples import LIMIT, placed

WEEK = timedelta(days=7)
HOUR = timedelta(hours=1)


def being_deleted(keys: tuple[str, ...] = ("a.jpg", "b.jpg")) -> AlarmState:
    state = on_alarm_event(None, triggered(keys=keys), T0, POLICY).state
    due = on_time_passed(state, T0 + WEEK, "tick", POLICY)
    assert due is not None
    return due.state


def with_a_clip_kept_back() -> AlarmState:
    """a.jpg is being deleted; clip.mp4 arrived after the deadline while the worker could not yet
    delete (after a restart), so it is still pending, and due."""
    late = on_alarm_event(
        being_deleted(("a.jpg",)),
        stored(keys=("clip.mp4",)),
        T0 + WEEK + HOUR,
        POLICY,
        deletions_allowed=False,
    )
    assert [m.key for m in late.state.pending] == ["clip.mp4"]
    return late.state


class TestEachDeletionIsRecordedOnce:
    def test_a_confirmation_repeating_a_recorded_object_still_records_the_new_ones(self) -> None:
        first = on_objects_deleted(being_deleted(), [("media", "a.jpg")], T0 + WEEK, "c1", POLICY)
        assert first is not None
        both = on_objects_deleted(
            first.state, [("media", "a.jpg"), ("media", "b.jpg")], T0 + WEEK + HOUR, "c2", POLICY
        )
        assert both is not None
        [record] = both.audit
        assert record.object_keys() == ["b.jpg"]
        assert all(m.status is MediaStatus.DELETED for m in both.state.media)

    def test_the_record_names_the_deadline_and_the_rule_it_was_deleted_under(self) -> None:
        outcome = on_objects_deleted(being_deleted(), [("media", "a.jpg")], T0 + WEEK + HOUR, "c", POLICY)
        assert outcome is not None
        [record] = outcome.audit
        assert (record.type, record.deadline, record.rule) == (AuditType.DELETED, T0 + WEEK, "R1")
        assert record.details == {"lateness_seconds": "3600.000"}

    def test_media_held_to_the_limit_is_recorded_as_deleted_under_r2(self) -> None:
        state = on_alarm_event(None, triggered(keys=("a.jpg",)), T0, POLICY).state
        held = on_hold_placed(state, placed(at=T0 + HOUR), T0 + HOUR, POLICY).state
        due = on_time_passed(held, LIMIT, "tick", POLICY)
        assert due is not None
        outcome = on_objects_deleted(due.state, [("media", "a.jpg")], LIMIT, "c", POLICY)
        assert outcome is not None
        assert [(r.rule, r.deadline) for r in outcome.audit] == [("R2", LIMIT)]


class TestAConfirmationLeavesTheMediaStillKeptAlone:
    def test_media_kept_for_the_police_is_neither_rescheduled_nor_deleted(self) -> None:
        now = T0 + WEEK + 2 * HOUR
        kept = on_hold_placed(with_a_clip_kept_back(), placed(at=now), now, POLICY).state
        outcome = on_objects_deleted(kept, [("media", "a.jpg")], now + HOUR, "c", POLICY)
        assert outcome is not None
        assert [r.type for r in outcome.audit] == [AuditType.DELETED]
        assert outcome.delete == ()
        assert (outcome.state.deadline, [m.key for m in outcome.state.pending]) == (LIMIT, ["clip.mp4"])


class TestAConfirmationLetsMediaThatIsDueGo:
    def test_media_kept_back_while_deletions_waited_goes_with_the_next_confirmation(self) -> None:
        outcome = on_objects_deleted(
            with_a_clip_kept_back(), [("media", "a.jpg")], T0 + WEEK + 2 * HOUR, "c", POLICY
        )
        assert outcome is not None
        assert [m.key for m in outcome.delete] == ["clip.mp4"]

    def test_but_not_while_deletions_still_wait(self) -> None:
        outcome = on_objects_deleted(
            with_a_clip_kept_back(),
            [("media", "a.jpg")],
            T0 + WEEK + 2 * HOUR,
            "c",
            POLICY,
            deletions_allowed=False,
        )
        assert outcome is not None
        assert outcome.delete == ()
        assert [m.key for m in outcome.state.pending] == ["clip.mp4"]
