"""The scheduler's deadline index on disk (RocksDB), for a worker with millions of pending alarms.

The in-memory index (streams/worker/scheduler.py DeadlineIndex) costs a few hundred bytes per alarm: at
two million alarms, more than the whole worker may use. This one keeps the same entries in a local
RocksDB database, sorted by time, so finding what is due is a seek to its start, whatever the size,
and memory stays that of RocksDB's small cache. Like the in-memory one it is derived: rebuilt from the
alarms table after every rebalance (the database is wiped then), never the only copy of anything.

Two kinds of keys:
    b"T" + deadline (ms, 8 bytes big-endian) + partition (2 bytes) + id   ->  b""   (in time order)
    b"I" + id                                                             ->  deadline + partition
"""

from __future__ import annotations

import shutil
import struct
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from rocksdict import Options, Rdict, WriteBatch

_WHEN = struct.Struct(">QH")  # deadline in ms since the epoch, partition
_TIME, _ID = b"T", b"I"


class DiskDeadlineIndex:
    """An alarm (or customer) has at most one deadline; setting another replaces it."""

    def __init__(self, path: Path, cache_mb: int = 8) -> None:
        self._path = path
        self._cache_mb = cache_mb
        self._count = 0
        self._db = self._open()

    def __len__(self) -> int:
        return self._count

    def set(self, key: str, partition: int, deadline: datetime | None) -> bool:
        """Track (or stop tracking, with None); True when this is now the earliest deadline."""
        ident = key.encode("utf-8")
        old = self._db.get(_ID + ident)
        new = _WHEN.pack(_ms(deadline), partition) if deadline is not None else None
        if old == new:
            return False
        batch = WriteBatch(raw_mode=True)
        if old is not None:
            batch.delete(_TIME + old + ident)
        if new is None:
            batch.delete(_ID + ident)
            self._count -= old is not None
            self._db.write(batch)
            return False
        first = self._first_when()
        earliest = first is None or _WHEN.unpack(new)[0] < _WHEN.unpack(first)[0]
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
            batch.put(_TIME + when + ident, b"")
            batch.put(_ID + ident, when)
            added += 1
        self._db.write(batch)
        self._count += added

    def next_deadline(self) -> float | None:
        when = self._first_when()
        return _WHEN.unpack(when)[0] / 1000 if when is not None else None

    def pop_due(self, now: datetime, limit: int = 10_000) -> dict[int, list[str]]:
        """Remove and return what is due at `now`, grouped by partition."""
        cutoff = _ms(now)
        due: dict[int, list[str]] = {}
        batch = WriteBatch(raw_mode=True)
        found = 0
        iterator = self._db.iter()
        iterator.seek(_TIME)
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

    def clear(self) -> None:
        self._db.close()
        shutil.rmtree(self._path, ignore_errors=True)
        self._count = 0
        self._db = self._open()

    def close(self) -> None:
        self._db.close()

    def _first(self) -> bytes | None:
        iterator = self._db.iter()
        iterator.seek(_TIME)
        key = iterator.key() if iterator.valid() else None
        return key if key is not None and key.startswith(_TIME) else None

    def _first_when(self) -> bytes | None:
        first = self._first()
        return first[1 : 1 + _WHEN.size] if first is not None else None

    def _open(self) -> Rdict:
        # Derived state: whatever a previous process left is stale (rebuilt after every rebalance).
        shutil.rmtree(self._path, ignore_errors=True)
        self._path.parent.mkdir(parents=True, exist_ok=True)
        options = Options(raw_mode=True)
        options.create_if_missing(True)
        options.set_write_buffer_size(4 * 1024 * 1024)
        options.set_max_write_buffer_number(2)
        return Rdict(str(self._path), options=options)


def _ms(moment: datetime) -> int:
    return max(0, int(moment.timestamp() * 1000))
