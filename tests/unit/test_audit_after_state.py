"""The audit trail never runs ahead of the state: a record waits for the changelog writes before it.

The writes are plain asyncio futures, resolved by the test the way the producer resolves a changelog
write when the broker acknowledges it (or fails it).
"""

from __future__ import annotations

import asyncio
import json

import pytest

from handlers.audit import AuditType, audit_record
from handlers.audit_chain import verify
from streams.audit.chain import AuditChain
from streams.kafka.acknowledgements import Acknowledgements, SendFailed
from tests.builders import T0
from tests.fakes import FakeTopic


def record(alarm_id: str) -> object:
    return audit_record(
        AuditType.HOLD_ACCEPTED, occurred_at=T0, alarm_id=alarm_id, customer_id=None, caused_by="e"
    )


def sent_alarms(topic: FakeTopic) -> list[str]:
    return [json.loads(entry["value"])["alarm_id"] for entry in topic.sent]  # type: ignore[arg-type]


class Rig:
    def __init__(self) -> None:
        self.writes = Acknowledgements("the changelogs")
        self.failures: list[SendFailed] = []
        self.writes.on_failure(self.failures.append)
        self.topic = FakeTopic()
        self.chain = AuditChain(self.topic, {}, "audit", self.writes)

    def write(self) -> asyncio.Future[object]:
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self.writes.track(future)
        return future

    def publish(self, alarm_id: str) -> None:
        self.chain.publish(0, alarm_id, record(alarm_id))  # type: ignore[arg-type]


async def settle() -> None:
    for _ in range(3):  # done callbacks run on the next turns of the loop
        await asyncio.sleep(0)


class TestARecordWaitsForTheStateItDescribes:
    async def test_not_sent_before_the_write_before_it_is_acknowledged(self) -> None:
        rig = Rig()
        state = rig.write()
        rig.publish("a")
        await settle()
        assert rig.topic.sent == []
        state.set_result("acknowledged")
        await settle()
        assert sent_alarms(rig.topic) == ["a"]

    async def test_a_later_write_acknowledged_first_releases_nothing_ahead_of_an_older_one(self) -> None:
        rig = Rig()
        older = rig.write()
        rig.publish("a")
        newer = rig.write()
        rig.publish("b")
        newer.set_result("acknowledged")
        await settle()
        assert rig.topic.sent == []
        older.set_result("acknowledged")
        await settle()
        assert sent_alarms(rig.topic) == ["a", "b"]

    async def test_released_in_the_order_published_and_chained_in_that_order(self) -> None:
        rig = Rig()
        first = rig.write()
        rig.publish("a")
        rig.publish("b")  # no write of its own: still behind a
        second = rig.write()
        rig.publish("c")
        first.set_result("acknowledged")
        await settle()
        assert sent_alarms(rig.topic) == ["a", "b"]
        second.set_result("acknowledged")
        await settle()
        assert sent_alarms(rig.topic) == ["a", "b", "c"]
        entries = [(offset, entry["value"]) for offset, entry in enumerate(rig.topic.sent)]
        assert verify(0, entries) == (3, None)  # type: ignore[arg-type]

    async def test_a_failed_write_holds_back_every_record_after_it_and_is_reported(self) -> None:
        rig = Rig()
        failed = rig.write()
        rig.publish("a")
        later = rig.write()
        rig.publish("b")
        failed.set_exception(ConnectionError("broker gone"))
        later.set_result("acknowledged")
        await settle()
        assert rig.topic.sent == []
        assert len(rig.failures) == 1  # the worker crashes on it, and the events are processed again
        with pytest.raises(SendFailed):
            await asyncio.wait_for(rig.chain.released(), 1)  # so no offset is committed past them

    async def test_a_cancelled_write_counts_as_failed(self) -> None:
        rig = Rig()
        rig.write().cancel()
        await settle()
        assert rig.writes.failed is not None

    async def test_a_record_with_no_write_before_it_goes_at_once(self) -> None:
        rig = Rig()
        rig.publish("a")
        assert sent_alarms(rig.topic) == ["a"]


class TestBeforeAnOffsetIsCommitted:
    async def test_released_waits_for_every_record_published_before_it(self) -> None:
        rig = Rig()
        state = rig.write()
        rig.publish("a")
        waiting = asyncio.create_task(rig.chain.released())
        await settle()
        assert not waiting.done()
        state.set_result("acknowledged")
        await asyncio.wait_for(waiting, 1)
        assert sent_alarms(rig.topic) == ["a"]

    async def test_released_does_not_wait_for_records_published_after_it(self) -> None:
        rig = Rig()
        first = rig.write()
        rig.publish("a")
        waiting = asyncio.create_task(rig.chain.released())
        await settle()  # it now waits for "a"
        rig.write()  # never acknowledged
        rig.publish("later")
        first.set_result("acknowledged")
        await asyncio.wait_for(waiting, 1)
        assert sent_alarms(rig.topic) == ["a"]


class TestAcknowledgements:
    async def test_reached_waits_for_every_message_up_to_the_mark_in_any_order(self) -> None:
        acks = Acknowledgements("test")
        loop = asyncio.get_running_loop()
        sent = [loop.create_future() for _ in range(3)]
        for future in sent:
            acks.track(future)
        waiting = asyncio.create_task(acks.reached(acks.mark()))
        sent[2].set_result(None)
        sent[0].set_result(None)
        await settle()
        assert not waiting.done()
        assert acks.acknowledged_through() == 1
        sent[1].set_result(None)
        await asyncio.wait_for(waiting, 1)
        assert acks.acknowledged_through() == 3

    async def test_reached_raises_when_a_message_before_the_mark_failed(self) -> None:
        acks = Acknowledgements("test")
        future = asyncio.get_running_loop().create_future()
        acks.track(future)
        future.set_exception(OSError("gone"))
        with pytest.raises(SendFailed):
            await asyncio.wait_for(acks.reached(acks.mark()), 1)
