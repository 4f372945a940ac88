"""The end of a partition as the broker really holds it, on both of Tansu's storage engines.

The partitions here end with a batch of several records: the case Tansu's ListOffsets gets wrong.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import faust
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.kafka import transport as kafka_transport
from streams.kafka.acknowledgements import Acknowledgements
from streams.kafka.topic_ends import UnknownTopic, committed_total, high_watermarks, read_topic, started
from streams.local.stack import LocalStack

pytestmark = pytest.mark.integration
BATCHES = (4, 1, 3)  # records per batch, on partition 0; partition 1 stays empty
RECORDS = sum(BATCHES)


@pytest.fixture
async def topic(each_broker: LocalStack) -> str:
    name = f"ends-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=each_broker.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 2, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=each_broker.kafka_bootstrap, linger_ms=50)
    await producer.start()
    try:
        value = 0
        for size in BATCHES:
            sent = []
            for _ in range(size):
                sent.append(await producer.send(name, str(value).encode(), key=b"k", partition=0))
                value += 1
            await producer.flush()  # one batch
            offsets = [(await s).offset for s in sent]
            assert offsets == list(range(value - size, value)), "the batches did not form as planned"
    finally:
        await producer.stop()
    return name


@pytest.fixture
async def faust_consumer(each_broker: LocalStack) -> AsyncIterator[faust.types.ConsumerT]:
    """The consumer faust's table recovery asks for highwaters, through the project's transport."""
    kafka_transport.register()
    app = kafka_transport.RetentionFaust(
        f"ends-{uuid.uuid4().hex[:8]}",
        broker=f"{kafka_transport.SCHEME}://{each_broker.kafka_bootstrap}",
        store="memory://",
        web_enabled=False,
    )
    consumer = app.consumer
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


class TestTheTransport:
    async def test_reports_the_end_of_a_partition_whose_last_batch_holds_several_records(
        self, topic: str, faust_consumer: faust.types.ConsumerT
    ) -> None:
        ends = await faust_consumer.highwaters(TopicPartition(topic, 0), TopicPartition(topic, 1))
        assert ends == {TopicPartition(topic, 0): RECORDS, TopicPartition(topic, 1): 0}


class TestCommits:
    async def test_wait_for_before_commit_and_do_not_happen_when_it_fails(
        self, each_broker: LocalStack, topic: str, faust_consumer: faust.types.ConsumerT
    ) -> None:
        app = faust_consumer.app

        async def refuse() -> None:
            raise RuntimeError("an audit record was not acknowledged")

        app.before_commit = refuse
        with pytest.raises(RuntimeError, match="not acknowledged"):
            await faust_consumer._commit({TopicPartition(topic, 0): 3})
        options = {"bootstrap_servers": each_broker.kafka_bootstrap}
        assert await committed_total(options, app.conf.id, topic) == 0


class TestProducer:
    async def test_tracks_every_message_it_buffers_until_acknowledged(
        self, each_broker: LocalStack, topic: str
    ) -> None:
        kafka_transport.register()
        app = kafka_transport.RetentionFaust(
            f"ends-{uuid.uuid4().hex[:8]}",
            broker=f"{kafka_transport.SCHEME}://{each_broker.kafka_bootstrap}",
            store="memory://",
            web_enabled=False,
        )
        app.outgoing = Acknowledgements("test")
        await app.producer.start()
        try:
            channel = app.topic(topic, key_type=bytes, value_type=bytes, value_serializer="raw")
            for n in range(5):
                channel.send_soon(key=b"k", value=b"%d" % n, partition=1)
            assert app.outgoing.mark() == 5
            await asyncio.wait_for(app.outgoing.reached(5), 30)
        finally:
            await app.producer.stop()
        records = await read_topic({"bootstrap_servers": each_broker.kafka_bootstrap}, topic)
        assert [r.value for r in records if r.partition == 1] == [b"%d" % n for n in range(5)]


class TestHighWatermarks:
    async def test_are_the_end_whatever_listoffsets_says(self, each_broker: LocalStack, topic: str) -> None:
        async with started({"bootstrap_servers": each_broker.kafka_bootstrap}) as consumer:
            tps = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
            assert await high_watermarks(consumer, tps) == {tps[0]: RECORDS, tps[1]: 0}

    async def test_tansu_lists_the_end_short_which_is_why_they_exist(
        self, each_broker: LocalStack, topic: str
    ) -> None:
        """Tansu 0.6.0's bug, pinned: when this fails, the broker was fixed (worth a look, not a
        reason to go back to ListOffsets: production brokers are not the only ones we run on)."""
        async with started({"bootstrap_servers": each_broker.kafka_bootstrap}) as consumer:
            listed = await consumer.end_offsets([TopicPartition(topic, 0)])
        assert listed[TopicPartition(topic, 0)] < RECORDS


class TestReadTopic:
    async def test_reads_every_record_to_the_end(self, each_broker: LocalStack, topic: str) -> None:
        records = await read_topic({"bootstrap_servers": each_broker.kafka_bootstrap}, topic)
        assert [(r.partition, r.offset, r.value) for r in records] == [
            (0, offset, str(offset).encode()) for offset in range(RECORDS)
        ]

    async def test_says_when_there_is_no_such_topic(self, each_broker: LocalStack) -> None:
        with pytest.raises(UnknownTopic):
            await read_topic({"bootstrap_servers": each_broker.kafka_bootstrap}, f"absent-{uuid.uuid4()}")
