"""No audit record lost in a crash: a state that reached the changelog brings its audit records with it.

The crash is played with two services on one alarms table: the first decides while its audit topic
never acknowledges anything (the worker died before the broker had the records), the second takes the
partitions over from the table the first one left, as a worker recovering the changelog would.
"""

from __future__ import annotations

import json
from datetime import timedelta

from handlers.commands import DeadlinesReached
from streams.kafka.partitioning import partition_for
from streams.worker.service import RetentionService
from tests.builders import T0, alarm_json, hold_placed_json
from tests.fakes import FakeClock, FakeTable, FakeTopic
from tests.unit.service_harness import PARTITIONS, Message, alarm_message, deliver, make_service

ALL = set(range(PARTITIONS))


def audit_ids(topic: FakeTopic) -> list[str]:
    return [json.loads(item["value"])["audit_id"] for item in topic.sent]


def audit_of(topic: FakeTopic, alarm_id: str) -> set[tuple[str, str]]:
    documents = [json.loads(item["value"]) for item in topic.sent]
    return {(d["type"], d["audit_id"]) for d in documents if d.get("alarm_id") == alarm_id}


def stored_outbox(service: RetentionService, alarm_id: str) -> list[str]:
    stored = service.alarms.stored(alarm_id)
    assert stored is not None
    return [record.audit_id for record in stored[1]]


def crashed_worker(clock: FakeClock, table: FakeTable) -> RetentionService:
    """A worker whose audit records never reach the broker."""
    service = make_service(clock, alarms=table)
    audit = service.topics.audit
    assert isinstance(audit, FakeTopic)
    audit.acknowledging = False
    return service


def hold_message(alarm_id: str, hold_id: str, clock: FakeClock) -> Message:
    return Message(
        "police-holds", 0, 0, alarm_id.encode(), hold_placed_json(alarm_id, hold_id, at=clock.now())
    )


def deadline_message(alarm_id: str, at: FakeClock) -> Message:
    due = DeadlinesReached(event_id=f"tick-{alarm_id}", alarm_ids=(alarm_id,), checked_at=at.now())
    partition = partition_for(alarm_id, PARTITIONS)
    return Message("retention-internal", partition, 1, b"p", due.model_dump_json().encode())


class TestTheStateCarriesItsAuditRecords:
    async def test_until_the_audit_topic_acknowledged_them(self) -> None:
        clock = FakeClock(T0)
        service = crashed_worker(clock, FakeTable())
        await deliver(service, alarm_message("alarm-1", alarm_json("alarm-1", ["a.jpg"], at=T0)))
        assert stored_outbox(service, "alarm-1") == audit_ids(service.topics.audit)
        assert len(stored_outbox(service, "alarm-1")) == 1

    async def test_a_later_record_of_the_partition_clears_the_acknowledged_ones(self) -> None:
        clock = FakeClock(T0)
        service = crashed_worker(clock, FakeTable())
        await deliver(service, alarm_message("alarm-1", alarm_json("alarm-1", ["a.jpg"], at=T0)))
        assert stored_outbox(service, "alarm-1") != []
        service.topics.audit.acknowledge()  # the broker has them now
        assert stored_outbox(service, "alarm-1") != []  # until a write clears it
        neighbour = next(
            f"alarm-{i}"
            for i in range(2, 100)
            if partition_for(f"alarm-{i}", PARTITIONS) == partition_for("alarm-1", PARTITIONS)
        )
        await deliver(service, alarm_message(neighbour, alarm_json(neighbour, ["b.jpg"], at=T0)))
        assert stored_outbox(service, "alarm-1") == []
        state = service.alarms.get("alarm-1")
        assert state is not None
        assert state.deadline == T0 + timedelta(days=7)

    async def test_records_not_yet_acknowledged_stay_when_the_alarm_is_written_again(self) -> None:
        clock = FakeClock(T0)
        service = crashed_worker(clock, FakeTable())
        await deliver(service, alarm_message("alarm-1", alarm_json("alarm-1", ["a.jpg"], at=T0)))
        clock.advance(timedelta(days=1))
        await deliver(service, hold_message("alarm-1", "hold-1", clock))
        kept = stored_outbox(service, "alarm-1")
        assert len(kept) == 3  # the scheduling, the hold's answer and the extension
        assert sorted(kept) == sorted(audit_ids(service.topics.audit))


class TestAWorkerThatTakesOverPublishesWhatTheCrashedOneDidNot:
    async def test_with_the_same_audit_ids(self) -> None:
        clock = FakeClock(T0)
        table = FakeTable()
        first = crashed_worker(clock, table)
        for alarm_id in ("alarm-1", "alarm-2", "alarm-3"):
            await deliver(first, alarm_message(alarm_id, alarm_json(alarm_id, ["a.jpg", "b.jpg"], at=T0)))
        clock.advance(timedelta(days=1))
        await deliver(first, hold_message("alarm-2", "hold-1", clock))
        clock.advance(timedelta(days=6))
        await first.handle_alarm_stream(deadline_message("alarm-1", clock))
        decided = {a: audit_of(first.topics.audit, a) for a in ("alarm-1", "alarm-2", "alarm-3")}
        assert {kind for kind, _ in decided["alarm-1"]} == {"media.deletion_scheduled"}  # deleting, not done
        assert any(kind == "hold.accepted" for kind, _ in decided["alarm-2"])

        successor = make_service(clock, alarms=table)
        successor.rebuild(ALL)
        for alarm_id, records in decided.items():
            assert audit_of(successor.topics.audit, alarm_id) == records

    async def test_and_redelivery_of_the_same_events_adds_nothing_else(self) -> None:
        clock = FakeClock(T0)
        table = FakeTable()
        first = crashed_worker(clock, table)
        trigger = alarm_message("alarm-1", alarm_json("alarm-1", ["a.jpg"], at=T0))
        await deliver(first, trigger)
        successor = make_service(clock, alarms=table)
        successor.rebuild(ALL)
        await deliver(successor, trigger)  # the offset was never committed: it comes again
        assert sorted(audit_ids(successor.topics.audit)) == sorted(audit_ids(first.topics.audit))

    async def test_nothing_is_published_again_once_it_was_acknowledged_and_cleared(self) -> None:
        clock = FakeClock(T0)
        table = FakeTable()
        first = make_service(clock, alarms=table)
        await deliver(first, alarm_message("alarm-1", alarm_json("alarm-1", ["a.jpg"], at=T0)))
        await first.handle_alarm_stream(deadline_message("alarm-1", clock))  # nothing due; it clears
        successor = make_service(clock, alarms=table)
        successor.rebuild(ALL)
        assert successor.topics.audit.sent == []


class TestPartitionsGivenAway:
    async def test_are_forgotten_so_their_new_owner_publishes_them(self) -> None:
        clock = FakeClock(T0)
        service = crashed_worker(clock, FakeTable())
        await deliver(service, alarm_message("alarm-1", alarm_json("alarm-1", ["a.jpg"], at=T0)))
        assert service.outbox.unsent_items == 1
        service.forget_partitions({partition_for("alarm-1", PARTITIONS)})
        assert service.outbox.unsent_items == 0
