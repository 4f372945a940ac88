"""Publishing audit records as a hash chain per partition (see handlers/audit_chain.py).

Each audit partition has one writer: the worker that owns the alarm partition with the same number
(audit records go to their alarm's partition number). After a rebalance the new owner reads the last
record of each partition it took over and continues the chain from its hash.

A record is released to the producer only once every changelog write issued before it has been
acknowledged (streams/acknowledgements.py): the audit trail never says more than the recovered state
holds. Records are released in the order they were published, and sealed as they are released.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from aiokafka import TopicPartition

from handlers.audit import AuditRecord
from handlers.audit_chain import GENESIS, seal
from streams.acknowledgements import Acknowledgements
from streams.topic_ends import high_watermarks, started

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class _Waiting:
    after_write: int  # released once changelog writes up to this number are acknowledged
    partition: int
    key: str
    record: AuditRecord


class AuditChain:
    def __init__(
        self,
        topic: Any,
        consumer_options: dict[str, Any],
        topic_name: str,
        writes: Acknowledgements | None = None,
    ) -> None:
        self._topic = topic
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

    def publish(self, partition: int, key: str, record: AuditRecord) -> None:
        """Released to faust's producer buffer once the state it describes is durable; `released()`
        (awaited before every offset commit) makes sure it is sent before the event's offset is
        committed."""
        after = self._writes.mark() if self._writes is not None else 0
        self._waiting.append(_Waiting(after, partition, key, record))
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
            sealed = seal(self._last.get(waiting.partition, GENESIS), orjson.loads(waiting.record.to_json()))
            self._last[waiting.partition] = sealed["hash"]
            self._topic.send_soon(
                key=waiting.key.encode("utf-8"), value=orjson.dumps(sealed), partition=waiting.partition
            )
            self._released += 1
        self._progress.set()

    async def resume(self, partitions: Collection[int]) -> None:
        """Continue each partition's chain from the last record actually in the topic (the end from a
        fetch: continuing from any other record would fork the chain)."""
        self._last = {}
        async with started(self._consumer_options) as consumer:
            tps = [TopicPartition(self._topic_name, p) for p in partitions]
            if not tps:
                return
            ends = await high_watermarks(consumer, tps)
            for tp in tps:
                if ends[tp] == 0:
                    continue
                consumer.seek(tp, ends[tp] - 1)
                record = await consumer.getone(tp)
                self._last[tp.partition] = orjson.loads(record.value).get("hash", GENESIS)
            log.info("audit_chain.resumed", partitions=sorted(partitions))
