"""The read model: counts, overdue objects, due per hour, holds, from the same states the worker writes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from handlers.alarm_events import on_alarm_event
from handlers.holds import on_hold_placed
from handlers.personal_fields import ERASED, Subject
from handlers.state import AlarmState, encode_state
from handlers.time_passed import on_time_passed
from streams.kafka.partitioning import partition_for
from streams.worker.projection import Projection
from tests.builders import POLICY, T0, triggered
from tests.unit.policy_examples import placed

GRACE = timedelta(seconds=30)


def projection_with(*states: AlarmState) -> Projection:
    projection = Projection(4, POLICY.hold_retention)
    for state in states:
        projection.apply_state(state.alarm_id, encode_state(state))
    return projection


def alarm(alarm_id: str, keys: tuple[str, ...] = ("a.jpg", "b.jpg")) -> AlarmState:
    return on_alarm_event(None, triggered(alarm_id, keys=keys), T0, POLICY).state


class TestCounts:
    def test_pending_objects_are_counted(self) -> None:
        projection = projection_with(alarm("a1"), alarm("a2", keys=("x.jpg",)))
        assert projection.counts(T0, GRACE) == {"pending": 3, "deleting": 0, "deleted": 0, "overdue": 0}

    def test_objects_past_their_deadline_by_more_than_the_grace_are_overdue(self) -> None:
        projection = projection_with(alarm("a1"))
        deadline = T0 + timedelta(days=7)
        assert projection.counts(deadline + timedelta(seconds=29), GRACE)["overdue"] == 0
        assert projection.counts(deadline + timedelta(seconds=31), GRACE)["overdue"] == 2

    def test_objects_being_deleted_for_too_long_are_overdue_too(self) -> None:
        due = on_time_passed(alarm("a1"), T0 + timedelta(days=7), "tick", POLICY)
        assert due is not None
        projection = projection_with(due.state)
        counts = projection.counts(T0 + timedelta(days=7, minutes=5), GRACE)
        assert (counts["pending"], counts["deleting"], counts["overdue"]) == (0, 2, 2)

    def test_counts_can_be_restricted_to_a_workers_partitions(self) -> None:
        states = [alarm(f"alarm-{i}", keys=("a.jpg",)) for i in range(12)]
        projection = projection_with(*states)
        per_partition = [projection.counts(T0, GRACE, {p})["pending"] for p in range(4)]
        assert sum(per_partition) == 12
        expected = [sum(1 for s in states if partition_for(s.alarm_id, 4) == p) for p in range(4)]
        assert per_partition == expected

    def test_a_newer_state_replaces_the_older_and_a_tombstone_removes_it(self) -> None:
        first = alarm("a1")
        projection = projection_with(first)
        due = on_time_passed(first, T0 + timedelta(days=7), "tick", POLICY)
        assert due is not None
        projection.apply_state("a1", encode_state(due.state))
        assert projection.counts(T0, GRACE)["pending"] == 0
        projection.apply_state("a1", None)
        assert projection.alarm("a1") is None


class TestSchedule:
    def test_deletions_due_per_hour(self) -> None:
        projection = projection_with(alarm("a1"), alarm("a2", keys=("x.jpg",)))
        buckets = projection.due_per_hour(T0 + timedelta(days=6, hours=12))
        assert sum(b["objects"] for b in buckets) == 3
        assert buckets[12]["objects"] == 3  # seven days after 09:00 is 12 hours after 21:00

    def test_held_media_shows_as_held_in_the_upcoming_list(self) -> None:
        held = on_hold_placed(alarm("a1"), placed(), T0 + timedelta(days=1), POLICY).state
        projection = projection_with(held)
        (row,) = projection.upcoming(T0 + timedelta(days=1))
        assert row["held"] is True
        (active,) = projection.active_holds()
        assert active.expires_at == T0 + timedelta(days=30)
        assert projection.alarm_of_hold("hold-1") == "a1"


class TestAuditAndDeadLetters:
    def test_audit_records_are_kept_per_alarm(self) -> None:
        projection = projection_with()
        projection.apply_audit(json.dumps({"type": "media.deleted", "alarm_id": "a1"}).encode())
        projection.apply_audit(json.dumps({"type": "contract.end_received", "customer_id": "c1"}).encode())
        assert [r["type"] for r in projection.audit_of("a1")] == ["media.deleted"]
        # A customer's own records are not kept in memory: nobody reads them from here.
        assert projection.audit_of("customer:c1") == []

    def test_dead_letters_keep_the_reason_and_source_but_not_the_bytes(self) -> None:
        projection = projection_with()
        letter = {"reason": "not valid JSON", "source": {"topic": "alarm-events"}, "value_base64": "S2FyaQ=="}
        projection.apply_deadletter(json.dumps(letter).encode())
        (kept,) = projection.deadletters
        assert kept["reason"] == "not valid JSON"
        assert "value_base64" not in kept


class TestAuditRecordsWithEncryptedFields:
    def test_are_shown_erased_once_their_key_has_ended_even_before_it_is_destroyed(self) -> None:
        from streams.protection.sealing import new_key, seal_part
        from streams.protection.subject_keys import SubjectKey

        projection = projection_with()
        key = new_key()
        part = seal_part(key, "kid-1", "a-1", Subject.CUSTOMER, {"customer_id": "c1"})
        record = {
            "type": "media.deleted",
            "audit_id": "a-1",
            "alarm_id": "a1",
            "encrypted": {"customer": part},
        }
        projection.apply_audit(json.dumps(record).encode())
        soon = datetime.now(UTC) + timedelta(hours=1)
        projection.apply_key("0/customer/c-x", SubjectKey("kid-1", key, T0, soon).to_json())
        assert projection.audit_of("a1")[0]["customer_id"] == "c1"
        projection.apply_key("0/customer/c-x", SubjectKey("kid-1", key, T0, datetime.now(UTC)).to_json())
        assert projection.audit_of("a1")[0]["customer_id"] == ERASED
        projection.apply_key("0/customer/c-x", None)  # forgotten
        assert projection.audit_of("a1")[0]["customer_id"] == ERASED
