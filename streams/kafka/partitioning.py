"""The service's own partitioner: which partition of its topics a key belongs to.

murmur2, as Kafka's Java client and aiokafka do by default, so that a deployment whose inputs were
produced that way before the service re-keyed them (streams/worker/rekeying.py) finds its state where it is.
The producers of the input topics may use any partitioner."""

from __future__ import annotations

from aiokafka.partitioner import murmur2


def partition_for(key: str, partitions: int) -> int:
    return int(murmur2(key.encode("utf-8")) & 0x7FFFFFFF) % partitions
