"""The check after table recovery: a table recovered short of its changelog is found, and completed.

The table is a real faust table (memory store) and the changelog a real topic on Tansu, on both
engines; faust's recovery is represented by what it leaves behind: the records it applied to the table
and its count of them (`active_offsets`), here short of the end, as ListOffsets made it.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import faust
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faust.types import TP

from streams.local.stack import LocalStack, _free_port
from streams.worker.recovery_check import RecoveryCheck

pytestmark = pytest.mark.integration

# The changelog of one partition: three batches; the last overwrites k1 and deletes k2 (a tombstone).
CHANGELOG = [
    [(b"k0", b"v0"), (b"k1", b"v1"), (b"k2", b"v2"), (b"k3", b"v3")],
    [(b"k4", b"v4")],
    [(b"k1", b"v1-new"), (b"k2", None), (b"k5", b"v5")],
]
WHOLE = {b"k0": b"v0", b"k1": b"v1-new", b"k3": b"v3", b"k4": b"v4", b"k5": b"v5"}


async def write_changelog(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=50)
    await producer.start()
    try:
        for batch in CHANGELOG:
            for key, value in batch:
                await producer.send(topic, value, key=key, partition=0)
            await producer.flush()
    finally:
        await producer.stop()


def recovered_short(bootstrap: str, name: str) -> tuple[Any, Any, TP]:
    """A faust app whose table holds only the first batch, and whose recovery counted only that."""
    app = faust.App(name, broker=f"kafka://{bootstrap}", store="memory://", web_enabled=False)
    table = app.Table("alarms", key_type=bytes, value_type=bytes, partitions=1)
    tp = TP(table.changelog_topic.get_topic_name(), 0)
    for key, value in CHANGELOG[0]:
        table.data[key] = value
    recovery = app.tables.recovery
    recovery.active_tps.add(tp)
    recovery.tp_to_table[tp] = table
    recovery.active_offsets[tp] = len(CHANGELOG[0]) - 1
    return app, table, tp


async def test_a_table_recovered_short_is_found_and_completed_before_ready(each_broker: LocalStack) -> None:
    name = f"check-{uuid.uuid4().hex[:8]}"
    app, table, tp = recovered_short(each_broker.kafka_bootstrap, name)
    await write_changelog(each_broker.kafka_bootstrap, tp.topic)
    check = RecoveryCheck(app, {"bootstrap_servers": each_broker.kafka_bootstrap})

    gaps = await check.gaps()
    assert [(g.topic, g.partition, g.applied, g.end) for g in gaps] == [(tp.topic, 0, 3, 8)]

    assert await asyncio.wait_for(check.verify(superseded=lambda: False), 60) is True
    assert dict(table.data) == WHOLE
    assert check.problem is None


async def test_a_table_counted_to_the_end_has_no_gap(each_broker: LocalStack) -> None:
    name = f"check-{uuid.uuid4().hex[:8]}"
    app, table, tp = recovered_short(each_broker.kafka_bootstrap, name)
    await write_changelog(each_broker.kafka_bootstrap, tp.topic)
    table.data.clear()
    table.data.update(WHOLE)
    app.tables.recovery.active_offsets[tp] = sum(map(len, CHANGELOG)) - 1

    assert await RecoveryCheck(app, {"bootstrap_servers": each_broker.kafka_bootstrap}).gaps() == []


async def test_while_the_broker_cannot_be_asked_it_stays_unready_and_says_why() -> None:
    nobody = f"127.0.0.1:{_free_port()}"
    app, _, _ = recovered_short(nobody, f"check-{uuid.uuid4().hex[:8]}")
    check = RecoveryCheck(app, {"bootstrap_servers": nobody, "request_timeout_ms": 2000})
    verifying = asyncio.create_task(check.verify(superseded=lambda: False))
    try:
        for _ in range(100):
            if check.problem and check.problem.startswith("cannot tell"):
                break
            await asyncio.sleep(0.1)
        assert check.problem is not None
        assert check.problem.startswith("cannot tell whether the tables hold their changelogs")
        assert not verifying.done()  # still trying, and faust's streams wait for it
    finally:
        verifying.cancel()


async def test_a_check_superseded_by_a_newer_rebalance_stops_and_leaves_the_status_to_it(
    each_broker: LocalStack,
) -> None:
    app, _, tp = recovered_short(each_broker.kafka_bootstrap, f"check-{uuid.uuid4().hex[:8]}")
    await write_changelog(each_broker.kafka_bootstrap, tp.topic)
    check = RecoveryCheck(app, {"bootstrap_servers": each_broker.kafka_bootstrap})
    assert await check.verify(superseded=lambda: True) is False
    assert check.problem == "tables being checked against their changelogs"  # nothing claims it whole
    assert await asyncio.wait_for(check.verify(superseded=lambda: False), 60) is True
    assert check.problem is None


async def test_a_table_on_disk_is_completed_from_its_changelog(
    each_broker: LocalStack, tmp_path: Any
) -> None:
    """TABLE_STORE=rocksdb: what the check reads goes to the partition's database, and its offset with it."""
    name = f"check-{uuid.uuid4().hex[:8]}"
    app = faust.App(
        name,
        broker=f"kafka://{each_broker.kafka_bootstrap}",
        store="rocksdb://",
        datadir=str(tmp_path),
        web_enabled=False,
    )
    table = app.Table(
        "alarms", key_type=bytes, value_type=bytes, partitions=1, options={"driver": "rocksdict"}
    )
    tp = TP(table.changelog_topic.get_topic_name(), 0)
    recovery = app.tables.recovery
    recovery.active_tps.add(tp)
    recovery.tp_to_table[tp] = table
    await write_changelog(each_broker.kafka_bootstrap, tp.topic)
    check = RecoveryCheck(app, {"bootstrap_servers": each_broker.kafka_bootstrap})

    assert await asyncio.wait_for(check.verify(superseded=lambda: False), 60) is True
    database = table.data._db_for_partition(0)  # faust lists only the keys of partitions it assigned
    stored = dict(database.items())  # an Rdict
    assert {k: v for k, v in stored.items() if not k.startswith(b"__faust")} == WHOLE
    assert table.data.persisted_offset(tp) == sum(map(len, CHANGELOG)) - 1


async def test_a_table_on_disk_ahead_of_its_changelog_is_not_trusted(each_broker: LocalStack) -> None:
    """A store that applied more than the changelog holds was built from another changelog."""
    name = f"check-{uuid.uuid4().hex[:8]}"
    app, _, tp = recovered_short(each_broker.kafka_bootstrap, name)
    await write_changelog(each_broker.kafka_bootstrap, tp.topic)
    app.tables.recovery.active_offsets[tp] = 41
    check = RecoveryCheck(app, {"bootstrap_servers": each_broker.kafka_bootstrap})
    verifying = asyncio.create_task(check.verify(superseded=lambda: False))
    try:
        for _ in range(100):
            if check.problem and "STATE_DIR" in check.problem:
                break
            await asyncio.sleep(0.1)
        assert check.problem is not None
        assert "up to offset 41, but the changelog ends at 7" in check.problem
        assert not verifying.done()  # not ready, and faust's streams wait
    finally:
        verifying.cancel()
