"""Publishing audit records as a hash chain per partition (see handlers/audit_chain.py).

Each audit partition has one writer: the worker that owns the alarm partition with the same number
(audit records go to their alarm's partition number). After a rebalance the new owner reads the last
record of each partition it took over and continues the chain from its hash.

A record is released to the producer only once every changelog write issued before it has been
acknowledged (streams/kafka/acknowledgements.py): the audit trail never says more than the recovered state
holds. Records are released in the order they were published, and sealed as they are released.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from handlers.audit import AuditRecord
from handlers.audit_chain import GENESIS, ChainKey, seal
from streams.audit.checkpoints import AuditCheckpoints, checkpoint_of, read_checkpoints
from streams.kafka.acknowledgements import Acknowledgements
from streams.kafka.topic_ends import POLL_MS, high_watermarks, started
from streams.protection.protector import Protector

log = structlog.get_logger(__name__)

RESUME_WAIT_SECONDS = 10.0  # for the last record of a partition, before taking it as removed


@dataclass(frozen=True, slots=True)
class _Waiting:
    after_write: int  # released once changelog writes up to this number are acknowledged
    partition: int
    key: str
    document: dict[str, Any]  # the record as published: its personal fields encrypted
    on_sent: Callable[[], None] | None  # called once the audit topic acknowledged the record


class AuditChain:
    def __init__(
        self,
        topic: Any,
        consumer_options: dict[str, Any],
        topic_name: str,
        writes: Acknowledgements | None = None,
        checkpoints: AuditCheckpoints | None = None,
        checkpoint_topic: str | None = None,
        resume_wait: float = RESUME_WAIT_SECONDS,
        protector: Protector | None = None,
        chain_key: ChainKey | None = None,
    ) -> None:
        """`protector`: encrypts each record's personal fields as it is published (None: in the
        clear, for tests of the chain alone)."""
        self._topic = topic
        self._protector = protector
        self._chain_key = chain_key  # None: unkeyed (SHA-256), only with ALLOW_INSECURE
        self._checkpoints = checkpoints
        self._checkpoint_topic = checkpoint_topic
        self._resume_wait = resume_wait
        self._consumer_options = consumer_options
        self._topic_name = topic_name
        self._last: dict[int, str] = {}
        self._writes = writes
        self._waiting: deque[_Waiting] = deque()
        self._published = 0  # records published so far
        self._released = 0  # of which handed to the producer
        self._progress = asyncio.Event()
        if writes is not None:
            writes.on_progress(self._release)
            writes.on_failure(lambda _: self._progress.set())  # wake released(), which raises

    def publish(
        self, partition: int, key: str, record: AuditRecord, on_sent: Callable[[], None] | None = None
    ) -> None:
        """Released to faust's producer buffer once the state it describes is durable; `released()`
        (awaited before every offset commit) makes sure it is sent before the event's offset is
        committed. `on_sent` is called when the audit topic has acknowledged it."""
        document = orjson.loads(record.to_json())
        if self._protector is not None:
            # Here, in stream processing: a subject's first record makes its key in the table, and
            # the record waits (below) for that write too.
            document = self._protector.protect(partition, document)
            key = self._protector.message_key(key, record.customer_id)
        after = self._writes.mark() if self._writes is not None else 0
        self._waiting.append(_Waiting(after, partition, key, document, on_sent))
        self._published += 1
        self._release()

    async def released(self) -> None:
        """Until every record published before this call has been handed to the producer. Raises
        SendFailed when a changelog write before one of them failed: that record is never sent."""
        target = self._published
        while self._released < target:
            if self._writes is not None and self._writes.failed is not None:
                raise self._writes.failed
            self._progress.clear()
            await self._progress.wait()

    def _release(self) -> None:
        durable = self._writes.acknowledged_through() if self._writes is not None else 0
        while self._waiting and self._waiting[0].after_write <= durable:
            waiting = self._waiting.popleft()
            sealed = seal(self._last.get(waiting.partition, GENESIS), waiting.document, self._chain_key)
            self._last[waiting.partition] = sealed["hash"]
            self._topic.send_soon(
                key=waiting.key.encode("utf-8"),
                value=orjson.dumps(sealed),
                partition=waiting.partition,
                callback=self._delivered(waiting.partition, sealed["hash"], waiting.on_sent),
            )
            self._released += 1
        self._progress.set()

    def last_hash(self, partition: int) -> str:
        """The hash the partition's next record will follow."""
        return self._last.get(partition, GENESIS)

    def _delivered(
        self, partition: int, hash_: str, on_sent: Callable[[], None] | None
    ) -> Callable[[Any], None]:
        """faust calls a send's callback with the delivered message once the broker acknowledged it."""

        def delivered(message: Any) -> None:
            if self._checkpoints is not None:
                self._checkpoints.acknowledged(partition, message.result().offset, hash_)
            if on_sent is not None:
                on_sent()

        return delivered

    async def resume(self, partitions: Collection[int]) -> None:
        """Continue each partition's chain from the last record actually in the topic (the end from a
        fetch: continuing from any other record would fork the chain). When retention (or anything
        else) removed that record, from its checkpoint, or else from GENESIS, and say so: the next
        record's predecessor is then unreadable, and `retention audit verify` judges the removal."""
        self._last = {}
        async with started(self._consumer_options) as consumer:
            tps = [TopicPartition(self._topic_name, p) for p in partitions]
            if not tps:
                return
            ends = await high_watermarks(consumer, tps)
            gone: list[TopicPartition] = []
            for tp in tps:
                if ends[tp] == 0:
                    continue
                record = await _record_at(consumer, tp, ends[tp] - 1, ends[tp], self._resume_wait)
                if record is None:
                    gone.append(tp)
                else:
                    self._last[tp.partition] = orjson.loads(record.value).get("hash", GENESIS)
        if gone:
            await self._continue_after_removed(gone, ends)
        log.info("audit_chain.resumed", partitions=sorted(partitions))

    async def _continue_after_removed(
        self, gone: list[TopicPartition], ends: dict[TopicPartition, int]
    ) -> None:
        checkpoints = (
            await read_checkpoints(self._consumer_options, self._checkpoint_topic)
            if self._checkpoint_topic
            else []
        )
        for tp in gone:
            checkpoint = checkpoint_of(checkpoints, tp, ends[tp] - 1)
            if checkpoint is not None:
                self._last[tp.partition] = checkpoint.hash
            log.warning(
                "audit_chain.last_record_gone",
                partition=tp.partition,
                offset=ends[tp] - 1,
                continues_from="its checkpoint"
                if checkpoint is not None
                else "GENESIS (no checkpoint of it)",
            )


async def _record_at(
    consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int, end: int, wait: float
) -> ConsumerRecord[Any, Any] | None:
    """The record at `offset`, or None when it is not there: Apache Kafka then resets the position to
    the log's new start (at the end here), Tansu answers with the next record or none at all; waits at
    most `wait` seconds for either."""
    consumer.seek(tp, offset)
    deadline = asyncio.get_running_loop().time() + wait
    while asyncio.get_running_loop().time() < deadline:
        batches = await consumer.getmany(tp, timeout_ms=POLL_MS)
        for record in batches.get(tp, []):
            return record if record.offset == offset else None
        if await consumer.position(tp) >= end:
            return None
    return None
