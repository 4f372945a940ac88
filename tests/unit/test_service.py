"""The shell's glue: a record in, the right writes, sends and hand-overs out, nothing skipped."""

from __future__ import annotations

import asyncio
import base64
import json
import typing
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from handlers.commands import DeadlinesReached, DeletedObject, InternalMessage, ObjectsDeleted
from streams.kafka.partitioning import partition_for
from streams.protection.deadletter_keys import open_letter
from streams.protection.subject_keys import SubjectKey
from streams.worker.backlog_gate import BacklogGate
from streams.worker.service import RetentionService
from tests.builders import T0, alarm_json, contract_ended_json, hold_placed_json
from tests.fakes import FakeClock, FakeTopic
from tests.unit.service_harness import PARTITIONS, Message, alarm_message, deliver, make_service, sent


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def service(clock: FakeClock) -> RetentionService:
    return make_service(clock)


class TestAlarmEvents:
    async def test_an_alarm_is_stored_audited_and_scheduled(self, service: RetentionService) -> None:
        await deliver(service, alarm_message("alarm-1", alarm_json("alarm-1", ["a.jpg"], at=T0)))
        state = service.alarms.get("alarm-1")
        assert state is not None
        assert state.deadline == T0 + timedelta(days=7)
        assert [r["type"] for r in sent(service.topics.audit)] == ["media.deletion_scheduled"]
        assert service.topics.audit.sent[0]["key"] == b"alarm-1"
        assert len(service.scheduler.index) == 1


class TestDeadLetters:
    async def test_a_bad_record_goes_to_the_dead_letter_topic_whole(self, service: RetentionService) -> None:
        message = Message("alarm-events", 2, 41, b"alarm-9", b"{oops")
        await deliver(service, message)
        (letter,) = sent(service.topics.deadletter)
        assert letter["reason"].startswith("not valid JSON")
        assert letter["source"] == {
            "topic": "alarm-events",
            "partition": 2,
            "offset": 41,
            "timestamp": 0.0,
        }
        # The producer's bytes are sealed under the day's dead-letter key, sent along on its own topic.
        assert "value_base64" not in letter
        assert b"oops" not in json.dumps(letter).encode()
        (key_record,) = service.topics.deadletter_keys.sent
        key = SubjectKey.from_json(key_record["value"])
        opened = open_letter(letter, {key.kid: key.key})
        assert base64.b64decode(opened["value_base64"]) == b"{oops"
        assert base64.b64decode(opened["key_base64"]) == b"alarm-9"
        assert service.topics.audit.sent == []
        assert service.topics.deadletter.sent[0]["key"] == b"alarm-events/2/41"  # not the record's key

    async def test_a_dead_letter_cannot_be_read_once_its_key_is_gone(self, service: RetentionService) -> None:
        await deliver(service, Message("alarm-events", 2, 42, b"alarm-9", b"{oops"))
        (letter,) = sent(service.topics.deadletter)
        assert open_letter(letter, {})["erased"] == ["deadletter"]
        assert "value_base64" not in open_letter(letter, {})

    async def test_a_record_on_the_wrong_partition_of_our_own_stream_is_refused(
        self, service: RetentionService
    ) -> None:
        right = partition_for("alarm-1", PARTITIONS)
        message = Message(
            "retention-alarm-stream",
            (right + 1) % PARTITIONS,
            0,
            b"alarm-1",
            alarm_json("alarm-1", ["a.jpg"], at=T0),
            headers=(("source-topic", b"alarm-events"), ("source-partition", b"0"), ("source-offset", b"5")),
        )
        await service.handle_alarm_stream(message)
        (letter,) = sent(service.topics.deadletter)
        assert f"belongs on partition {right}" in letter["reason"]
        assert letter["source"]["topic"] == "alarm-events"
        assert service.alarms.get("alarm-1") is None

    async def test_a_trigger_time_in_the_future_is_dead_lettered(self, service: RetentionService) -> None:
        value = alarm_json("alarm-1", ["a.jpg"], at=T0 + timedelta(days=1))
        await deliver(service, alarm_message("alarm-1", value))
        (letter,) = sent(service.topics.deadletter)
        assert "in the future" in letter["reason"]

    async def test_an_unexpected_error_dead_letters_the_record_and_carries_on(
        self, service: RetentionService, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def broken(alarm_id: str) -> None:
            raise KeyError("bug")

        monkeypatch.setattr(service.alarms, "get", broken)
        await deliver(service, alarm_message("alarm-1", alarm_json("alarm-1", ["a.jpg"], at=T0)))
        (letter,) = sent(service.topics.deadletter)
        assert letter["reason"] == "internal error while processing: KeyError"


class TestInternalMessages:
    async def _scheduled(self, service: RetentionService) -> int:
        await service.handle_alarm_stream(
            alarm_message("alarm-1", alarm_json("alarm-1", ["a.jpg", "b.jpg"], at=T0))
        )
        return partition_for("alarm-1", PARTITIONS)

    async def test_a_reached_deadline_hands_the_media_to_the_deleter(
        self, service: RetentionService, clock: FakeClock
    ) -> None:
        partition = await self._scheduled(service)
        clock.advance(timedelta(days=7))
        command = DeadlinesReached(event_id="tick-1", alarm_ids=("alarm-1",), checked_at=clock.now())
        await service.handle_alarm_stream(
            Message("retention-internal", partition, 0, b"p", command.model_dump_json().encode())
        )
        assert service.deleter.outstanding == 2
        assert len(service.scheduler.index) == 0

    async def test_a_confirmed_deletion_is_audited(self, service: RetentionService, clock: FakeClock) -> None:
        partition = await self._scheduled(service)
        clock.advance(timedelta(days=7, seconds=1))
        command = ObjectsDeleted(
            event_id="done-1",
            objects=(DeletedObject(alarm_id="alarm-1", bucket="media", key="a.jpg"),),
            deleted_at=clock.now(),
        )
        await service.handle_alarm_stream(
            Message("retention-internal", partition, 1, b"p", command.model_dump_json().encode())
        )
        deleted = [r for r in sent(service.topics.audit) if r["type"] == "media.deleted"]
        assert [(r["objects"], r["caused_by"]) for r in deleted] == [
            ([{"bucket": "media", "key": "a.jpg"}], "done-1")
        ]

    async def test_a_garbled_internal_message_is_dead_lettered(self, service: RetentionService) -> None:
        await service.handle_alarm_stream(Message("retention-internal", 0, 0, b"p", b'{"type": "nonsense"}'))
        (letter,) = sent(service.topics.deadletter)
        assert letter["reason"].startswith("invalid internal message")

    async def test_notifications_go_to_the_partition_of_the_alarms(self, service: RetentionService) -> None:
        await service.notify_deadlines(3, ["alarm-1"], T0)
        (item,) = service.topics.internal.sent
        assert item["partition"] == 3
        assert json.loads(item["value"])["alarm_ids"] == ["alarm-1"]


def test_every_kind_of_message_to_ourselves_has_a_handler(service: RetentionService) -> None:
    kinds = typing.get_args(typing.get_args(InternalMessage)[0])
    assert len(kinds) == 11
    assert set(kinds) <= set(service._internal_handlers)


class TestDeadlinesAfterARebalance:
    async def test_wait_behind_the_backlog_gate_and_are_checked_once_it_opens(self, clock: FakeClock) -> None:
        gate = BacklogGate({}, "group", "police-holds", "retention-alarm-stream")
        service = make_service(clock, gate)
        await deliver(service, alarm_message("alarm-1", alarm_json("alarm-1", ["a.jpg"], at=T0)))
        partition = partition_for("alarm-1", PARTITIONS)
        clock.advance(timedelta(days=7, seconds=1))
        due = DeadlinesReached(event_id="t", alarm_ids=("alarm-1",), checked_at=clock.now())
        await service.handle_alarm_stream(
            Message("retention-internal", partition, 0, b"p", due.model_dump_json().encode())
        )
        state = service.alarms.get("alarm-1")
        assert state is not None
        assert len(state.pending) == 1  # nothing decided while holds may still be on their way
        assert service.health()["deadlines"].startswith("waiting until the holds")

        service.act_on_deferred({partition: {"alarm-1"}})
        assert service.scheduler.index.pop_due(clock.now()) == {partition: ["alarm-1"]}

    async def test_an_event_replayed_after_the_deadline_does_not_delete_before_the_holds_are_in(
        self, clock: FakeClock
    ) -> None:
        # After a crash the alarm-trigger is processed again (never committed), past its deadline,
        # while the alarm's hold still waits in police-holds: the event must not delete.
        gate = BacklogGate({}, "group", "police-holds", "retention-alarm-stream")
        service = make_service(clock, gate)
        trigger = alarm_json("alarm-1", ["a.jpg"], at=T0)
        await deliver(service, alarm_message("alarm-1", trigger))
        clock.advance(timedelta(days=7, seconds=1))
        await deliver(service, alarm_message("alarm-1", trigger, offset=1))
        state = service.alarms.get("alarm-1")
        assert state is not None
        assert len(state.pending) == 1
        assert service.deleter.outstanding == 0

        # The hold comes through; then the deadline that waited behind the gate keeps the media.
        await deliver(
            service, Message("police-holds", 0, 0, b"alarm-1", hold_placed_json("alarm-1", "hold-1", at=T0))
        )
        partition = partition_for("alarm-1", PARTITIONS)
        gate.open = True  # the holds' backlog is applied: what was deferred is acted on now
        service.act_on_deferred({partition: {"alarm-1"}})
        for part, alarm_ids in service.scheduler.index.pop_due(clock.now()).items():
            due = DeadlinesReached(event_id="t", alarm_ids=tuple(alarm_ids), checked_at=clock.now())
            await service.handle_alarm_stream(
                Message("retention-internal", part, 2, b"p", due.model_dump_json().encode())
            )
        state = service.alarms.get("alarm-1")
        assert state is not None
        assert len(state.pending) == 1
        assert [h.hold_id for h in state.active_holds] == ["hold-1"]


class TestRebuild:
    async def test_the_schedule_and_unfinished_deletions_come_back_from_the_table(
        self, service: RetentionService, clock: FakeClock
    ) -> None:
        for i in range(6):
            alarm_id = f"alarm-{i}"
            await deliver(service, alarm_message(alarm_id, alarm_json(alarm_id, ["a.jpg"], at=T0)))
        due = DeadlinesReached(event_id="t", alarm_ids=("alarm-0",), checked_at=T0 + timedelta(days=7))
        clock.advance(timedelta(days=7))
        await service.handle_alarm_stream(
            Message(
                "retention-internal",
                partition_for("alarm-0", PARTITIONS),
                0,
                b"p",
                due.model_dump_json().encode(),
            )
        )
        service.scheduler.index.clear()
        owned = {partition_for(f"alarm-{i}", PARTITIONS) for i in (1, 2)}
        service.rebuild(owned)
        expected = {f"alarm-{i}" for i in range(1, 6) if partition_for(f"alarm-{i}", PARTITIONS) in owned}
        assert set(service.scheduler.index._current) == expected
        assert service.ready


class TestSweepMessages:
    async def test_a_sweep_request_sent_by_the_api_lands_on_partition_0(
        self, service: RetentionService
    ) -> None:
        sweep_id = await service.request_sweep("operator-ann")
        [item] = service.topics.internal.sent  # type: ignore[attr-defined]
        assert item["partition"] == 0
        assert json.loads(item["value"]) == {
            "type": "sweep.requested",
            "event_id": sweep_id,
            "requested_by": "operator-ann",
        }

    async def test_findings_and_the_summary_are_sealed_into_partition_0s_audit_chain(
        self, service: RetentionService
    ) -> None:
        findings = {
            "type": "sweep.findings",
            "event_id": "f-1",
            "sweep_id": "s-1",
            "verdict": "orphan",
            "objects": [
                {"bucket": "media", "key": "old.jpg", "alarm_id": None,
                 "last_modified": "2026-01-01T00:00:00Z", "outcome": "deleted"},
            ],
        }  # fmt: skip
        summary = {
            "type": "sweep.completed",
            "event_id": "c-1",
            "sweep_id": "s-1",
            "requested_by": "schedule",
            "started_at": T0.isoformat(),
            "finished_at": T0.isoformat(),
            "status": "completed",
            "counts": {"listed": 1, "orphan": 1},
        }
        for offset, body in enumerate((findings, summary)):
            message = Message("retention-internal", 0, offset, b"partition-0", json.dumps(body).encode())
            await service.handle_alarm_stream(message)
        records = sent(service.topics.audit)
        assert [r["type"] for r in records] == ["media.orphan_deleted", "sweep.completed"]
        assert records[0]["objects"] == [{"bucket": "media", "key": "old.jpg"}]
        assert records[1]["prev_hash"] == records[0]["hash"]
        assert all(item["partition"] == 0 for item in service.topics.audit.sent)  # type: ignore[attr-defined]
        assert not service.topics.deadletter.sent  # type: ignore[attr-defined]


class WatchedClock(FakeClock):
    """A fake clock that remembers every reading, so a test can wait until the scheduler has looked."""

    def __init__(self, start: datetime) -> None:
        super().__init__(start)
        self.readings: list[datetime] = []

    def now(self) -> datetime:
        self.readings.append(self.current)
        return self.current


async def scheduler_passes(clock: WatchedClock, moment: datetime, timeout: float = 5.0) -> None:
    """Wait until the scheduler has read the clock at `moment` and then begun another pass: the pass
    that saw `moment` is over, and whatever it was going to send for `moment` has been sent. Nothing else
    reads the clock while the test waits here."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + timeout
    start = len(clock.readings)
    while True:
        seen = clock.readings[start:]
        if moment in seen and len(seen) > seen.index(moment) + 1:
            return
        assert loop.time() < give_up, f"the scheduler never ran a whole pass at {moment}"
        await asyncio.sleep(0.01)


class TestErasureCommandsUnderAControllableClock:
    async def test_each_categorys_command_is_sent_at_its_due_time_and_confirmed(self) -> None:
        clock = WatchedClock(T0)
        service = make_service(clock)
        customer = "customer-9"
        partition = partition_for(customer, PARTITIONS)
        await deliver(
            service, Message("contract-events", 0, 0, customer.encode(), contract_ended_json(customer, at=T0))
        )
        internal: FakeTopic = service.topics.internal  # type: ignore[assignment]
        commands: FakeTopic = service.topics.erasure_commands  # type: ignore[assignment]
        runner = asyncio.create_task(service.erasures.scheduler.run())
        offset = 100
        try:
            # T0 is 10:00 in Oslo on 15 March 2026. A second before each due time nothing is sent: the
            # test waits until the scheduler has really looked at that second (a step that only glanced
            # at the topic passed with every command sent a second early).
            due = [
                (T0, ["R3"]),
                (datetime(2027, 3, 15, 9, 0, tzinfo=UTC), ["R6"]),
                (datetime(2029, 3, 15, 9, 0, tzinfo=UTC), ["R5"]),
                (datetime(2031, 12, 31, 23, 0, tzinfo=UTC), ["R4", "R7"]),
            ]
            for moment, rules in [
                step for at, r in due for step in ((at - timedelta(seconds=1), []), (at, r))
            ]:
                clock.current = moment
                before = len(commands.sent)
                if not rules:
                    await scheduler_passes(clock, moment)
                reached = await next_message(internal, "erasures.reached", wait=0.0 if not rules else 5.0)
                if reached is not None:
                    assert reached["partition"] == partition
                    offset += 1
                    await service.handle_alarm_stream(
                        Message("retention-internal", partition, offset, b"p", reached["value"])
                    )
                new = [json.loads(item["value"]) for item in commands.sent[before:]]
                # The command for R3 was confirmed at once (below), so it is never sent again.
                assert sorted(c["rule"] for c in new) == rules, moment
                for command in new:
                    assert command["type"] == "erasure.due"
                    assert command["customer_id"] == customer
                    assert datetime.fromisoformat(command["due_at"]) == moment
                    confirmation = json.dumps({
                        "type": "erasure.completed", "event_id": f"done-{command['rule']}",
                        "command_id": command["command_id"], "customer_id": customer,
                        "system": command["system"], "completed_at": moment.isoformat(),
                    }).encode()  # fmt: skip
                    offset += 1
                    await deliver(
                        service, Message("erasure-confirmations", 0, offset, customer.encode(), confirmation)
                    )
        finally:
            runner.cancel()
        record = service.erasures.customers.get(customer)
        assert record is not None
        assert all(e.confirmed_at is not None for e in record.erasures)
        types = [r["type"] for r in sent(service.topics.audit)]
        assert types.count("erasure.sent") == 5
        assert types.count("erasure.confirmed") == 5
        assert not service.topics.deadletter.sent  # type: ignore[attr-defined]


async def next_message(topic: FakeTopic, kind: str, wait: float) -> dict[str, Any] | None:
    """Take the next message of a type off a fake topic, waiting up to `wait` seconds for it."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + wait
    while True:
        for item in list(topic.sent):
            if json.loads(item["value"]).get("type") == kind:
                topic.sent.remove(item)
                return item
        if loop.time() >= give_up:
            return None
        await asyncio.sleep(0.02)
