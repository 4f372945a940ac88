"""No record lost in a crash: what a decision sends travels in the state it changed until its topic has it.

Without this, a worker that dies after the new state reached the changelog but before what the decision
sends reached its topic loses it for good: the event is delivered again (its offset was not committed),
but the handler finds the state already applied and decides nothing new. For an alarm that is its audit
records; for a customer, its audit records and its erasure commands (a lost command would otherwise
wait for the confirmation window, a day by default, before it is sent again).

So every state write carries, in the same changelog record, what has not yet been acknowledged by its
topic (the outbox). When the producer acknowledges the last of a key's items, the key is cleared by its
next write, or by a write of its own the next time the worker processes a record of that partition
(table writes go to the partition of the record being processed). A worker that takes the partition
over sends every outbox it recovers, again: a topic may then hold an item twice, with the same id
(`audit_id`; a command's `command_id` and `attempt`), and readers count ids, not records.

Items of a decision that changed no state are not kept: on redelivery the same state gives the same
decision, so they are sent again anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, Generic, Protocol, TypeVar

import structlog

from streams.kafka.partitioning import partition_for

log = structlog.get_logger(__name__)

Item = TypeVar("Item")


class StoredWithOutbox(Protocol[Item]):
    """A table whose values carry their outbox (streams/tables/alarms.py, customers.py)."""

    def stored(self, key: str, /) -> tuple[Any, tuple[Item, ...]] | None: ...

    def put(self, value: Any, outbox: tuple[Item, ...], /) -> None: ...


class Outbox(Generic[Item]):
    def __init__(self, partitions: int, id_of: Callable[[Item], str]) -> None:
        self._partitions = partitions
        self._id_of = id_of
        self._unsent: dict[str, dict[str, Item]] = {}  # table key -> item id -> item
        self._to_clear: dict[int, set[str]] = {}  # partition -> keys whose stored outbox is all sent

    def keep(self, key: str, items: Collection[Item]) -> tuple[Item, ...]:
        """Add the items of a decision; the key's unsent items, to write with its state."""
        unsent = self._unsent.setdefault(key, {})
        for item in items:
            unsent[self._id_of(item)] = item
        self._to_clear.get(self._partition(key), set()).discard(key)  # this write clears it
        if not unsent:
            del self._unsent[key]
        return tuple(unsent.values())

    def sent(self, key: str, item_id: str) -> None:
        """The topic acknowledged the item."""
        unsent = self._unsent.get(key)
        if unsent is None or unsent.pop(item_id, None) is None:
            return
        if not unsent:
            del self._unsent[key]
            self._to_clear.setdefault(self._partition(key), set()).add(key)

    def unsent(self, key: str) -> tuple[Item, ...]:
        return tuple(self._unsent.get(key, {}).values())

    def rewrite_cleared(self, partition: int, table: StoredWithOutbox[Item]) -> None:
        """Write once more, without their outbox, the keys of the partition whose outbox has all been
        acknowledged. From inside stream processing of that partition: a table write goes to the
        partition of the record being processed."""
        for key in sorted(self._to_clear.pop(partition, set())):
            try:
                stored = table.stored(key)
                if stored is not None and stored[1]:
                    table.put(stored[0], self.unsent(key))
            except Exception as exc:  # a clearing missed only means items sent again after a restart
                log.exception("outbox.clear_failed", error=type(exc).__name__)

    def forget_partitions(self, partitions: Collection[int]) -> None:
        """Partitions given away: their new owner sends what their states still hold."""
        gone = set(partitions)
        for key in [k for k in self._unsent if self._partition(k) in gone]:
            del self._unsent[key]
        for partition in gone:
            self._to_clear.pop(partition, None)

    @property
    def unsent_items(self) -> int:
        return sum(len(items) for items in self._unsent.values())

    def _partition(self, key: str) -> int:
        return partition_for(key, self._partitions)
