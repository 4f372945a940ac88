"""Which partition a key belongs to, by Kafka's default partitioner (murmur2, as Java and aiokafka)."""

from __future__ import annotations

from aiokafka.partitioner import murmur2


def partition_for(key: str, partitions: int) -> int:
    return int(murmur2(key.encode("utf-8")) & 0x7FFFFFFF) % partitions
