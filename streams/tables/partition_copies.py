"""Tables that keep a copy of one key per partition (each partition heard a broadcast, or keeps its own
key): a delete must reach the changelog partition of the record being processed."""

from __future__ import annotations

from typing import Any


def forget_this_partitions_copy(table: Any, key: bytes) -> None:
    """A tombstone on the changelog partition of the record being processed. When this worker already
    forgot the key for another partition (memory holds one value for all), a placeholder is written
    first, so that the delete reaches this partition's changelog too."""
    if table.get(key) is None:
        table[key] = b"{}"
    del table[key]
