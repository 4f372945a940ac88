"""Wakes at the next deadline and tells the stream which alarms are due.

The index is derived state: it is rebuilt from the alarms table after every rebalance, so it may be
lost at any time. Finding due work costs O(log n) per due alarm, not a scan of everything pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

import structlog

from streams.clock import Clock

log = structlog.get_logger(__name__)

# notify(partition, alarm_ids, checked_at): publish that these alarms' deadlines have passed.
Notify = Callable[[int, list[str], datetime], Awaitable[None]]


class Index(Protocol):
    """What the scheduler needs of an index: this heap, or the one on disk (streams/worker/disk_index.py)."""

    def __len__(self) -> int: ...
    def set(self, alarm_id: str, partition: int, deadline: datetime | None) -> bool: ...
    def next_deadline(self) -> float | None: ...
    def pop_due(self, now: datetime, limit: int = 10_000) -> dict[int, list[str]]: ...
    def drop_partitions(self, partitions: Iterable[int]) -> None: ...
    def clear(self) -> None: ...
    def load(self, entries: Iterable[tuple[str, int, datetime]]) -> None: ...


class DeadlineIndex:
    """Alarm deadlines in a heap; an alarm has at most one live entry, older ones are skipped."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, str]] = []
        self._current: dict[str, tuple[float, int]] = {}  # alarm_id -> (deadline, partition)
        self._order = itertools.count()

    def __len__(self) -> int:
        return len(self._current)

    def set(self, alarm_id: str, partition: int, deadline: datetime | None) -> bool:
        """Track (or stop tracking, with None) an alarm; True when this is now the earliest deadline."""
        if deadline is None:
            self._current.pop(alarm_id, None)
            return False
        when = deadline.timestamp()
        if self._current.get(alarm_id) == (when, partition):
            return False
        self._current[alarm_id] = (when, partition)
        earliest = not self._heap or when < self._heap[0][0]
        heapq.heappush(self._heap, (when, next(self._order), alarm_id))
        return earliest

    def next_deadline(self) -> float | None:
        self._skip_stale()
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: datetime, limit: int = 10_000) -> dict[int, list[str]]:
        """Remove and return the alarms due at `now`, grouped by partition."""
        due: dict[int, list[str]] = {}
        cutoff = now.timestamp()
        count = 0
        while count < limit:
            self._skip_stale()
            if not self._heap or self._heap[0][0] > cutoff:
                break
            _, _, alarm_id = heapq.heappop(self._heap)
            _, partition = self._current.pop(alarm_id)
            due.setdefault(partition, []).append(alarm_id)
            count += 1
        return due

    def drop_partitions(self, partitions: Iterable[int]) -> None:
        gone = set(partitions)
        for alarm_id in [a for a, (_, p) in self._current.items() if p in gone]:
            del self._current[alarm_id]
        self._compact_if_sparse()

    def clear(self) -> None:
        self._heap.clear()
        self._current.clear()

    def load(self, entries: Iterable[tuple[str, int, datetime]]) -> None:
        """Many at once (after a rebuild's `clear`)."""
        for alarm_id, partition, deadline in entries:
            self.set(alarm_id, partition, deadline)

    def _skip_stale(self) -> None:
        heap = self._heap
        while heap:
            when, _, alarm_id = heap[0]
            entry = self._current.get(alarm_id)
            if entry is not None and entry[0] == when:
                return
            heapq.heappop(heap)

    def _compact_if_sparse(self) -> None:
        if len(self._heap) > 2 * len(self._current) + 1024:
            self._heap = [(w, next(self._order), a) for a, (w, _) in self._current.items()]
            heapq.heapify(self._heap)


class Scheduler:
    """Sends `deadlines.reached` for due alarms; re-sends if the stream has not acted on it in time."""

    def __init__(
        self,
        index: Index,
        clock: Clock,
        notify: Notify,
        *,
        recheck_after: timedelta = timedelta(seconds=30),
        max_sleep: float = 1.0,
        batch: int = 500,
    ) -> None:
        self.index = index
        self._clock = clock
        self._notify = notify
        self._recheck_after = recheck_after
        self._max_sleep = max_sleep  # wake at least this often, so a jump of the clock is noticed
        self._batch = batch
        self._wakeup = asyncio.Event()

    def track(self, alarm_id: str, partition: int, deadline: datetime | None) -> None:
        if self.index.set(alarm_id, partition, deadline):
            self._wakeup.set()

    def track_many(self, entries: Iterable[tuple[str, int, datetime]]) -> None:
        """Alarms not tracked yet (a rebuild), in one go."""
        self.index.load(entries)
        self._wakeup.set()

    async def run(self) -> None:
        while True:
            now = self._clock.now()
            for partition, alarm_ids in self.index.pop_due(now).items():
                for start in range(0, len(alarm_ids), self._batch):
                    chunk = alarm_ids[start : start + self._batch]
                    # Until the stream acts on it (and moves or clears the deadline), ask again later;
                    # sooner when the message could not even be sent.
                    retry = now + self._recheck_after
                    try:
                        await self._notify(partition, chunk, now)
                    except Exception as exc:
                        log.warning("scheduler.notify_failed", partition=partition, reason=str(exc))
                        retry = now + timedelta(seconds=self._max_sleep)
                    for alarm_id in chunk:
                        self.index.set(alarm_id, partition, retry)
            await self._sleep_until_next(now)

    async def _sleep_until_next(self, now: datetime) -> None:
        upcoming = self.index.next_deadline()
        timeout = self._max_sleep
        if upcoming is not None:
            timeout = max(0.0, min(timeout, upcoming - now.timestamp()))
        if timeout == 0.0:
            await asyncio.sleep(0)  # due work is waiting: yield, then go again
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), timeout)
        self._wakeup.clear()


def index_for(name: str, state_dir: str | None) -> Index:
    """On disk under `state_dir` (TABLE_STORE=rocksdb: memory bounded whatever is pending), else in memory."""
    if state_dir is None:
        return DeadlineIndex()
    from streams.worker.disk_index import DiskDeadlineIndex  # rocksdict only where it is used

    return DiskDeadlineIndex(Path(state_dir) / "indexes" / name)
