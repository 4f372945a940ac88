"""The shell carries out the end of records: a marker written over the state, the customer's index
let go of the alarm, the marker's tombstone 30 days on, and each partition's copy of a contract end
forgotten 37 days after it."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from handlers.commands import (
    ContractEndBroadcast,
    ContractEndsExpired,
    DeadlinesReached,
    DeletedObject,
    ObjectsDeleted,
)
from streams.kafka.partitioning import partition_for
from streams.worker.service import RetentionService
from tests.builders import T0, alarm_json
from tests.fakes import FakeClock, FakeTable
from tests.unit.service_harness import PARTITIONS, Message, alarm_message, make_service


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


async def _internal(service: RetentionService, partition: int, command: object) -> None:
    value = command.model_dump_json().encode()  # type: ignore[attr-defined]
    await service.handle_alarm_stream(Message("retention-internal", partition, 0, b"p", value))
    await service.audit_chain.released()


async def test_an_alarm_whose_media_went_is_a_marker_then_a_tombstone(clock: FakeClock) -> None:
    table = FakeTable()
    service = make_service(clock, alarms=table)
    partition = partition_for("alarm-1", PARTITIONS)
    await service.handle_alarm_stream(alarm_message("alarm-1", alarm_json("alarm-1", ["a.jpg"], at=T0)))
    assert service.customer_alarms.of("customer-1") == ["alarm-1"]

    clock.advance(timedelta(days=7))
    await _internal(
        service, partition, DeadlinesReached(event_id="t", alarm_ids=("alarm-1",), checked_at=clock.now())
    )
    clock.advance(timedelta(seconds=1))
    gone = (DeletedObject(alarm_id="alarm-1", bucket="media", key="a.jpg"),)
    await _internal(service, partition, ObjectsDeleted(event_id="d", objects=gone, deleted_at=clock.now()))

    stored = json.loads(table[b"alarm-1"])
    assert stored["state"] == {
        "alarm_id": "alarm-1",
        "ended_at": clock.now().isoformat().replace("+00:00", "Z"),
        "media_gone_at": clock.now().isoformat().replace("+00:00", "Z"),
    }
    assert service.customer_alarms.of("customer-1") == []

    # 30 days on, the scheduler's wake-up forgets it; its audit records were acknowledged long before.
    clock.advance(timedelta(days=30))
    assert service.scheduler.index.pop_due(clock.now()) == {partition: ["alarm-1"]}
    await _internal(
        service, partition, DeadlinesReached(event_id="t2", alarm_ids=("alarm-1",), checked_at=clock.now())
    )
    assert b"alarm-1" not in table
    assert len(service.scheduler.index) == 0


async def test_each_partitions_copy_of_a_contract_end_is_forgotten_37_days_on(clock: FakeClock) -> None:
    table = FakeTable()
    service = make_service(clock)
    service.contract_ends._table = table  # the harness's own table, to look into
    broadcast = ContractEndBroadcast(event_id="end-1", customer_id="customer-1", ended_at=T0)
    for partition in range(PARTITIONS):
        await _internal(service, partition, broadcast)
    assert service.contract_ends.get("customer-1") is not None

    clock.advance(timedelta(days=37))
    due = service.contract_end_expiry.scheduler.index.pop_due(clock.now())
    assert sorted(due) == list(range(PARTITIONS))
    for partition in range(PARTITIONS):
        expired = ContractEndsExpired(
            event_id=f"x{partition}", customer_ids=("customer-1",), checked_at=clock.now()
        )
        await _internal(service, partition, expired)
    assert b"customer-1" not in table
    assert service.contract_ends.get("customer-1") is None
