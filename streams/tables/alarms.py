"""The alarms table: alarm state by alarm_id, kept by faust in memory and in a changelog topic."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any

from handlers.audit import AuditRecord
from handlers.state import AlarmState, decode_state, decode_stored, encode_state
from streams.kafka.partitioning import partition_for


class AlarmTable:
    def __init__(self, table: Any, partitions: int) -> None:
        self._table = table
        self.partitions = partitions

    def get(self, alarm_id: str) -> AlarmState | None:
        raw = self._table.get(alarm_id.encode("utf-8"))
        return decode_state(raw) if raw is not None else None

    def stored(self, alarm_id: str) -> tuple[AlarmState, tuple[AuditRecord, ...]] | None:
        """The state and its outbox (streams/worker/outbox.py)."""
        raw = self._table.get(alarm_id.encode("utf-8"))
        return decode_stored(raw) if raw is not None else None

    def put(self, state: AlarmState, outbox: tuple[AuditRecord, ...] = ()) -> None:
        """Only from inside stream processing: the write goes to the current event's partition."""
        self._table[state.alarm_id.encode("utf-8")] = encode_state(state, outbox)

    def forget(self, alarm_id: str) -> None:
        """The alarm's record is over (handlers/record_end.py): a tombstone, so the changelog's
        compaction removes every earlier value of it. Only from inside stream processing."""
        key = alarm_id.encode("utf-8")
        if self._table.get(key) is not None:
            del self._table[key]

    def partition_of(self, alarm_id: str) -> int:
        return partition_for(alarm_id, self.partitions)

    def stored_in(self, partitions: Collection[int]) -> Iterator[tuple[AlarmState, tuple[AuditRecord, ...]]]:
        """Every state of these partitions with its outbox, read in one pass over the store (on disk,
        millions of them: no list of keys, no lookup per key)."""
        wanted = set(partitions)
        for key, raw in self._table.data.items():
            if raw is not None and self.partition_of(key.decode("utf-8")) in wanted:
                yield decode_stored(raw)

    def states(self, alarm_ids: Collection[str]) -> Iterator[AlarmState]:
        for alarm_id in alarm_ids:
            state = self.get(alarm_id)
            if state is not None:
                yield state
