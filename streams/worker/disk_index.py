"""The scheduler's deadline index on disk (RocksDB), for a worker with millions of pending alarms.

The in-memory index (streams/worker/scheduler.py DeadlineIndex) costs a few hundred bytes per alarm: at
two million alarms, more than the whole worker may use. This one keeps the same entries in a local
RocksDB database, sorted by time, so finding what is due is a seek to its start, whatever the size,
and memory stays that of RocksDB's small cache. Like the in-memory one it is derived: rebuilt from the
alarms table after every rebalance (the database is wiped then), never the only copy of anything.

Two kinds of keys:
    b"T" + deadline (ms, 8 bytes big-endian) + partition (2 bytes) + id   ->  b""   (in time order)
    b"I" + id                                                             ->  deadline + partition

Popping from the front leaves RocksDB's tombstones there until a compaction, and a seek to the start
would step over every one of them (2 ms per seek after 20,000 deletions). So every seek starts at a
floor instead: no live entry lies below it (it moves up as entries are popped, down when an earlier
one is set). And the earliest deadline is kept in memory, so a tick with nothing due (the scheduler
wakes every second) does not touch the database at all.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from rocksdict import WriteBatch

from streams.tables.store import fresh_database

_WHEN = struct.Struct(">QH")  # deadline in ms since the epoch, partition
_TIME, _ID = b"T", b"I"


class DiskDeadlineIndex:
    """An alarm (or customer) has at most one deadline; setting another replaces it."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._count = 0
        self._floor = _TIME  # no live time key is below this
        self._earliest: int | None = None  # ms of the earliest deadline (None: nothing tracked)...
        self._earliest_known = True  # ...when this says it is up to date
        self._db = fresh_database(self._path)

    def __len__(self) -> int:
        return self._count

    def set(self, key: str, partition: int, deadline: datetime | None) -> bool:
        """Track (or stop tracking, with None); True when this is now the earliest deadline."""
        ident = key.encode("utf-8")
        old = self._db.get(_ID + ident)
        new = _WHEN.pack(_ms(deadline), partition) if deadline is not None else None
        if old == new:
            return False
        first = self._earliest_ms()
        batch = WriteBatch(raw_mode=True)
        if old is not None:
            batch.delete(_TIME + old + ident)
            if _WHEN.unpack(old)[0] == first:
                self._earliest_known = False  # perhaps it was the earliest
        if new is None:
            batch.delete(_ID + ident)
            self._count -= old is not None
            self._db.write(batch)
            return False
        new_ms = _WHEN.unpack(new)[0]
        earliest = first is None or new_ms < first
        if self._earliest_known:
            self._earliest = new_ms if self._earliest is None else min(self._earliest, new_ms)
        self._floor = min(self._floor, _TIME + new + ident)
        batch.put(_TIME + new + ident, b"")
        batch.put(_ID + ident, new)
        self._count += old is None
        self._db.write(batch)
        return earliest

    def load(self, entries: Iterable[tuple[str, int, datetime]]) -> None:
        """Keys not tracked yet (after `clear`), written in one batch: a rebuild of millions."""
        batch = WriteBatch(raw_mode=True)
        added = 0
        for key, partition, deadline in entries:
            ident, when = key.encode("utf-8"), _WHEN.pack(_ms(deadline), partition)
            self._floor = min(self._floor, _TIME + when + ident)
            batch.put(_TIME + when + ident, b"")
            batch.put(_ID + ident, when)
            added += 1
        self._db.write(batch)
        self._count += added
        self._earliest_known = False

    def next_deadline(self) -> float | None:
        earliest = self._earliest_ms()
        return earliest / 1000 if earliest is not None else None

    def pop_due(self, now: datetime, limit: int = 10_000) -> dict[int, list[str]]:
        """Remove and return what is due at `now`, grouped by partition."""
        cutoff = _ms(now)
        earliest = self._earliest_ms()
        if earliest is None or earliest > cutoff:
            return {}  # the scheduler's usual tick: nothing read from disk
        self._earliest_known = False
        due: dict[int, list[str]] = {}
        batch = WriteBatch(raw_mode=True)
        found = 0
        iterator = self._db.iter()
        iterator.seek(self._floor)
        while iterator.valid() and found < limit:
            key = iterator.key()
            if not key.startswith(_TIME):
                break
            ms, partition = _WHEN.unpack_from(key, 1)
            if ms > cutoff:
                break
            ident = key[1 + _WHEN.size :]
            due.setdefault(partition, []).append(ident.decode("utf-8"))
            batch.delete(key)
            batch.delete(_ID + ident)
            found += 1
            self._floor = key  # everything below is popped (what is set below it lowers the floor)
            iterator.next()
        del iterator
        if found:
            self._db.write(batch)
            self._count -= found
        return due

    def drop_partitions(self, partitions: Iterable[int]) -> None:
        gone = set(partitions)
        batch = WriteBatch(raw_mode=True)
        dropped = 0
        for key in self._db.keys(from_key=_TIME):
            assert isinstance(key, bytes)  # raw mode
            if not key.startswith(_TIME):
                break
            if _WHEN.unpack_from(key, 1)[1] in gone:
                batch.delete(key)
                batch.delete(_ID + key[1 + _WHEN.size :])
                dropped += 1
        self._db.write(batch)
        self._count -= dropped
        self._earliest_known = False

    def clear(self) -> None:
        self._db.close()
        self._count = 0
        self._floor = _TIME
        self._earliest, self._earliest_known = None, True
        self._db = fresh_database(self._path)

    def close(self) -> None:
        self._db.close()

    def _first(self) -> bytes | None:
        iterator = self._db.iter()
        iterator.seek(self._floor)
        key = iterator.key() if iterator.valid() else None
        return key if key is not None and key.startswith(_TIME) else None

    def _earliest_ms(self) -> int | None:
        if not self._earliest_known:
            first = self._first()
            self._earliest = _WHEN.unpack_from(first, 1)[0] if first is not None else None
            self._earliest_known = True
        return self._earliest


def _ms(moment: datetime) -> int:
    return max(0, int(moment.timestamp() * 1000))
