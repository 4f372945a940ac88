"""Any Kafka producer works, with its defaults: the service co-partitions its inputs itself.

Three producers on the same stream, as the alarm platform and the police liaison's systems might be:
confluent-kafka (librdkafka, whose default partitioner is CRC32-based `consistent_random`), aiokafka
(murmur2, like Java), and one writing each record to a partition it picks at random. An alarm's events
and its holds come from different producers; the input topics have 3 and 4 partitions, the service its
own count, and two workers share the work. Every promise is judged by listing the bucket.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from confluent_kafka import Producer

from streams.kafka.partitioning import partition_for
from streams.kafka.topology import DEFAULT_PARTITIONS
from streams.local.stack import MEDIA_BUCKET, LocalStack, input_topics_of, isolated_topics
from streams.local.worker_process import WorkerProcess
from tests.builders import alarm_json, contract_ended_json, hold_placed_json
from tests.e2e.helpers import exists, sleep_until, wait_for_split, wait_until_gone
from tests.kafka_helpers import read_all

pytestmark = pytest.mark.e2e
RETENTION = 25  # seconds: "7 days"
HOLD_LIMIT = 50  # seconds: "30 days"
BOUND = 8  # how late a deletion may be seen, polling included

Send = Callable[[str, str, bytes], None]  # (topic, key, value)


def librdkafka(bootstrap: str) -> Send:
    """confluent-kafka with its defaults: the partitioner is librdkafka's consistent_random (CRC32)."""
    producer = Producer({"bootstrap.servers": bootstrap})

    def send(topic: str, key: str, value: bytes) -> None:
        producer.produce(topic, value=value, key=key.encode())
        assert producer.flush(30) == 0, "confluent-kafka did not deliver"

    return send


def aiokafka(bootstrap: str, *, random_partition: bool = False) -> Send:
    """aiokafka with its default partitioner (murmur2), or choosing a partition at random."""
    chance = random.Random(7)  # noqa: S311 - which partition, not a secret

    async def go(topic: str, key: str, value: bytes) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            partition = (
                chance.choice(sorted(await producer.partitions_for(topic))) if random_partition else None
            )
            await producer.send_and_wait(topic, value, key=key.encode(), partition=partition)
        finally:
            await producer.stop()

    return lambda topic, key, value: asyncio.run(go(topic, key, value))


def test_every_promise_holds_whatever_client_produced_the_events(stack: LocalStack, artifacts: Path) -> None:
    prefix = f"anyproducer-{uuid.uuid4().hex[:6]}"
    topics = isolated_topics(prefix)
    alarm_topic, hold_topic, contract_topic = input_topics_of(topics)
    stack.create_topics([alarm_topic, contract_topic], partitions=3)
    stack.create_topics([hold_topic], partitions=4)
    stack.create_bucket(MEDIA_BUCKET)
    settings = {
        **topics,
        "APP_ID": prefix,
        "MEDIA_RETENTION": f"PT{RETENTION}S",
        "HOLD_RETENTION": f"PT{HOLD_LIMIT}S",
        "SWEEP_INTERVAL": "PT0S",
    }
    s3: Any = stack.s3_client()
    producers = {
        "librdkafka": librdkafka(stack.kafka_bootstrap),
        "aiokafka": aiokafka(stack.kafka_bootstrap),
        "random-partition": aiokafka(stack.kafka_bootstrap, random_partition=True),
    }
    names = list(producers)
    workers = [WorkerProcess(stack, artifacts / f"{prefix}-{n}.log", **settings).start() for n in "ab"]
    try:
        wait_for_split(workers, DEFAULT_PARTITIONS)

        def alarm_id(kind: str, n: int) -> str:
            return f"{prefix}-{kind}-{n}"

        plain = [alarm_id("plain", n) for n in range(6)]  # deleted at R1
        held = [alarm_id("held", n) for n in range(6)]  # a hold from another producer: kept to the limit
        early = [alarm_id("early", n) for n in range(3)]  # the hold arrives before the alarm
        leaving = [alarm_id("leaving", n) for n in range(3)]  # the customer's contract ends now
        customer = f"{prefix}-leaving-customer"
        every = plain + held + early + leaving
        objects = {a: (MEDIA_BUCKET, f"{a}/image.jpg") for a in every}
        for bucket, key in objects.values():
            s3.put_object(Bucket=bucket, Key=key, Body=b"jpeg")

        triggered_at = datetime.now(UTC)
        for n, alarm in enumerate(early):  # the hold first, then the alarm, from different producers
            producers[names[n % 3]](hold_topic, alarm, hold_placed_json(alarm, f"hold-{alarm}"))
        for n, alarm in enumerate(every):
            extra = {"customer_id": customer} if alarm in leaving else {}
            value = alarm_json(alarm, [objects[alarm][1]], bucket=MEDIA_BUCKET, at=triggered_at, **extra)
            producers[names[n % 3]](alarm_topic, alarm, value)
        for n, alarm in enumerate(held):
            producers[names[(n + 1) % 3]](hold_topic, alarm, hold_placed_json(alarm, f"hold-{alarm}"))
        producers["librdkafka"](contract_topic, customer, contract_ended_json(customer))

        # What the version before re-keying refused: records off their key's murmur2 partition.
        inputs = {t: asyncio.run(read_all(stack.kafka_bootstrap, t)) for t in (alarm_topic, hold_topic)}
        counts = {alarm_topic: 3, hold_topic: 4}
        elsewhere = [
            r
            for t, rs in inputs.items()
            for r in rs
            if r.partition != partition_for(r.key.decode(), counts[t])
        ]
        assert len(elsewhere) >= 5, "the producers happened to agree with murmur2: nothing was tested"

        asyncio.run(wait_until_gone(s3, [objects[a] for a in leaving], timeout=BOUND * 2))
        asyncio.run(sleep_until(triggered_at + timedelta(seconds=RETENTION - 2)))
        assert [a for a in plain + held + early if not exists(s3, *objects[a])] == [], "deleted early"

        asyncio.run(wait_until_gone(s3, [objects[a] for a in plain], timeout=2 + BOUND))
        assert [a for a in held + early if not exists(s3, *objects[a])] == [], "held media deleted"

        asyncio.run(sleep_until(triggered_at + timedelta(seconds=HOLD_LIMIT - 2)))
        assert [a for a in held + early if not exists(s3, *objects[a])] == [], "held media deleted"
        asyncio.run(wait_until_gone(s3, [objects[a] for a in held + early], timeout=2 + BOUND))
    finally:
        for worker in workers:
            worker.stop()
