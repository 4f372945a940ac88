"""Publishing audit records as a hash chain per partition (see handlers/audit_chain.py).

Each audit partition has one writer: the worker that owns the alarm partition with the same number
(audit records go to their alarm's partition number). After a rebalance the new owner reads the last
record of each partition it took over and continues the chain from its hash.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import orjson
import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition

from handlers.audit import AuditRecord
from handlers.audit_chain import GENESIS, seal

log = structlog.get_logger(__name__)


class AuditChain:
    def __init__(self, topic: Any, consumer_options: dict[str, Any], topic_name: str) -> None:
        self._topic = topic
        self._consumer_options = consumer_options
        self._topic_name = topic_name
        self._last: dict[int, str] = {}

    def publish(self, partition: int, key: str, record: AuditRecord) -> None:
        """Buffered by faust and flushed before the offset of the event that caused it is committed."""
        sealed = seal(self._last.get(partition, GENESIS), orjson.loads(record.to_json()))
        self._last[partition] = sealed["hash"]
        self._topic.send_soon(key=key.encode("utf-8"), value=orjson.dumps(sealed), partition=partition)

    async def resume(self, partitions: Collection[int]) -> None:
        """Continue each partition's chain from the last record actually in the topic."""
        consumer = AIOKafkaConsumer(enable_auto_commit=False, **self._consumer_options)
        await consumer.start()
        try:
            self._last = {}
            tps = [TopicPartition(self._topic_name, p) for p in partitions]
            if not tps:
                return
            consumer.assign(tps)
            ends = await consumer.end_offsets(tps)
            for tp in tps:
                if ends[tp] == 0:
                    continue
                consumer.seek(tp, ends[tp] - 1)
                record = await consumer.getone(tp)
                self._last[tp.partition] = orjson.loads(record.value).get("hash", GENESIS)
            log.info("audit_chain.resumed", partitions=sorted(partitions))
        finally:
            await consumer.stop()
