"""An upgrade keeps the state: a deployment of the version before re-keying keeps its alarms, holds and
schedules.

That version read the input topics directly, refused records not on their key's murmur2 partition, and
kept its state on the same partition numbers as the inputs. Its footprint on the broker is rebuilt here
as it left it (its topics, with the inputs' partition count, and alarm states in the changelog written
with the state encoding both versions share); the input events themselves are gone, so whatever the new
version does, it can only have learnt it from the state. Left unset, PARTITIONS takes the count the
service's topics have, and the re-keying stage puts an alarm's later events where its state is.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from handlers.alarm_events import on_alarm_event
from handlers.decoding import InputTopic, decode_event
from handlers.holds import on_hold_placed
from handlers.policy import RetentionPolicy
from handlers.state import AlarmState, encode_state
from streams.kafka.partitioning import partition_for
from streams.local.stack import MEDIA_BUCKET, LocalStack, input_topics_of, isolated_topics
from streams.local.worker_process import TOKENS, WorkerProcess
from tests.builders import alarm_json, hold_placed_json
from tests.e2e.helpers import exists, sleep_until, wait_until_gone
from tests.kafka_helpers import produce

pytestmark = pytest.mark.e2e
OLD_PARTITIONS = 4
RETENTION, HOLD_LIMIT = 25, 50
POLICY = RetentionPolicy(
    media_retention=timedelta(seconds=RETENTION), hold_retention=timedelta(seconds=HOLD_LIMIT)
)
# The topics the previous version created next to its inputs, with the inputs' partition count.
OLD_OWN_TOPICS = ("INTERNAL", "AUDIT", "DEADLETTER", "ERASURE_COMMANDS", "ERASURE_CONFIRMATIONS",
                  "CUSTOMER_REQUESTS", "REQUEST_OUTCOMES")  # fmt: skip


def state_of(alarm_id: str, key: str, at: datetime, hold_id: str | None) -> AlarmState:
    """The state the previous version kept, made by the same rules."""
    value = alarm_json(alarm_id, [key], bucket=MEDIA_BUCKET, at=at)
    event = decode_event(value, alarm_id.encode(), InputTopic.ALARMS, {MEDIA_BUCKET})
    state = on_alarm_event(None, event, at, POLICY).state  # type: ignore[arg-type]
    if hold_id is not None:
        hold = decode_event(
            hold_placed_json(alarm_id, hold_id, at=at), alarm_id.encode(), InputTopic.HOLDS, set()
        )
        state = on_hold_placed(state, hold, at, POLICY).state  # type: ignore[arg-type]
    return state


async def write_changelog(bootstrap: str, topic: str, states: list[AlarmState]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for state in states:
            partition = partition_for(state.alarm_id, OLD_PARTITIONS)
            await producer.send_and_wait(
                topic, encode_state(state), key=state.alarm_id.encode(), partition=partition
            )
    finally:
        await producer.stop()


def test_an_upgrade_keeps_alarms_holds_and_schedules(stack: LocalStack, artifacts: Path) -> None:
    prefix = f"upgrade-{uuid.uuid4().hex[:6]}"
    topics = isolated_topics(prefix)
    stack.create_topics(input_topics_of(topics), OLD_PARTITIONS)
    stack.create_topics([topics[f"TOPICS__{name}"] for name in OLD_OWN_TOPICS], OLD_PARTITIONS)
    changelogs = [f"{prefix}-{table}-changelog" for table in ("alarms", "contract-ends", "customers")]
    stack.create_topics(changelogs, OLD_PARTITIONS)
    stack.create_bucket(MEDIA_BUCKET)
    s3: Any = stack.s3_client()

    triggered_at = datetime.now(UTC)
    held, plain, later = f"{prefix}-held", f"{prefix}-plain", f"{prefix}-later"
    objects = {a: (MEDIA_BUCKET, f"{a}/image.jpg") for a in (held, plain, later)}
    for bucket, key in objects.values():
        s3.put_object(Bucket=bucket, Key=key, Body=b"jpeg")
    states = [
        state_of(held, objects[held][1], triggered_at, f"hold-{held}"),
        state_of(plain, objects[plain][1], triggered_at, None),
        state_of(later, objects[later][1], triggered_at, None),
    ]
    asyncio.run(write_changelog(stack.kafka_bootstrap, changelogs[0], states))

    settings = {**topics, "APP_ID": prefix, "MEDIA_RETENTION": f"PT{RETENTION}S",
                "HOLD_RETENTION": f"PT{HOLD_LIMIT}S", "SWEEP_INTERVAL": "PT0S"}  # fmt: skip
    worker = WorkerProcess(stack, artifacts / f"{prefix}.log", **settings).start()
    try:
        worker.wait_ready()
        health = worker.health() or {}
        assert health["partitions"] == list(range(OLD_PARTITIONS))  # the count its topics had
        # An event after the upgrade, produced as the old contract required, meets its alarm's state.
        asyncio.run(
            produce(
                stack.kafka_bootstrap,
                topics["TOPICS__POLICE_HOLDS"],
                [(later.encode(), hold_placed_json(later, f"hold-{later}"))],
            )
        )

        asyncio.run(sleep_until(triggered_at + timedelta(seconds=RETENTION - 2)))
        assert all(exists(s3, *o) for o in objects.values()), "deleted before its deadline"
        asyncio.run(wait_until_gone(s3, [objects[plain]], timeout=10))
        assert exists(s3, *objects[held]), "the hold kept in the old state was lost"
        assert exists(s3, *objects[later]), "the hold sent after the upgrade missed its alarm"

        # An operator: holds placed before units existed belong to no unit, so no liaison lists them.
        headers = {"Authorization": f"Bearer {TOKENS['operator']}"}
        holds = httpx.get(f"{worker.url}/api/v1/holds", headers=headers, timeout=10).json()["holds"]
        assert {h["hold_id"] for h in holds} >= {f"hold-{held}", f"hold-{later}"}

        asyncio.run(sleep_until(triggered_at + timedelta(seconds=HOLD_LIMIT)))
        asyncio.run(wait_until_gone(s3, [objects[held], objects[later]], timeout=10))
    finally:
        worker.stop()
