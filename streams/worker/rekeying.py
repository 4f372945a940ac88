"""The re-keying stage: input records as any producer partitioned them, onto the service's own topics.

The alarm platform and the police liaison produce with whatever Kafka client they have. librdkafka's
default partitioner (CRC32) puts a key on another partition than Java's and aiokafka's (murmur2), and
input topics may have different partition counts, so an alarm's events and its holds need not share a
partition number. This stage reads every input record, checks it against the contract (a record with
no key, or keyed by anything but its `alarm_id` / `customer_id`, is refused with the reason), and
forwards the original bytes to `retention-alarm-stream` or `retention-customer-stream`, on the partition
the service's own partitioner gives the key, with the record's origin in headers (streams/kafka/source.py).
It is the repartition topic of Kafka Streams, made explicit. Per-key order within each input topic is
kept: one input partition is read in order, and a key always goes to the same partition.

Signatures are checked where holds are applied: a forged hold deserves an audit record, and only the
owner of the alarm's partition writes to its audit chain.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from handlers.decoding import InputTopic, InvalidEvent, decode_event
from handlers.events import routing_key
from streams.kafka.partitioning import partition_for
from streams.kafka.source import Source
from streams.kafka.topics import Topics

CUSTOMER_KEYED = frozenset({InputTopic.CONTRACTS, InputTopic.CONFIRMATIONS, InputTopic.REQUESTS})


class Rekeyer:
    def __init__(
        self,
        topics: Topics,
        partitions: int,
        media_buckets: Collection[str],
        dead_letter: Callable[[Any, str], None],
    ) -> None:
        self._topics = topics
        self._partitions = partitions
        self._buckets = media_buckets
        self._dead_letter = dead_letter

    def forward(self, message: Any) -> None:
        """Buffered by faust and flushed before the input offset is committed."""
        kind = self._topics.input_kind(message.topic)
        if kind is None:
            raise RuntimeError(f"no input topic {message.topic}")
        try:
            event = decode_event(message.value, message.key, kind, self._buckets)
        except InvalidEvent as exc:
            self._dead_letter(message, exc.reason)
            return
        key = routing_key(event)
        stream = self._topics.customer_stream_out if kind in CUSTOMER_KEYED else self._topics.alarm_stream_out
        stream.send_soon(
            key=key.encode("utf-8"),
            value=message.value,
            partition=partition_for(key, self._partitions),
            headers=Source.of(message).headers(),
        )
