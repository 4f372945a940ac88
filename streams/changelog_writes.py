"""Knowing when the tables' state is durable, so that nothing claims it before it is.

A decision writes the alarm's new state to the table (faust sends it to the changelog) and publishes
audit records that describe it. Both are buffered by the same producer, but on different topics: on a
cluster their partitions have different leaders, and nothing orders one acknowledgement before the
other. A `hold.accepted` acknowledged before the state that holds it, then a crash, would leave an audit
trail that promises the police a hold the recovered state does not have, and the media deleted at its
R1 deadline. So audit records wait here (streams/audit_chain.py) until every changelog write issued
before them has been acknowledged by the broker.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

import faust
import structlog

log = structlog.get_logger(__name__)


class ChangelogWrites:
    """Numbers each changelog write and tells up to which number all are acknowledged."""

    def __init__(self) -> None:
        self._issued = 0
        self._unacknowledged: deque[int] = deque()  # in the order issued
        self._acknowledged: set[int] = set()  # acknowledged out of order, ahead of an older write
        self._listeners: list[Callable[[], None]] = []
        self.failed: str | None = None  # why a write failed; what follows it is never released

    def track(self, write: asyncio.Future[Any]) -> None:
        self._issued += 1
        number = self._issued
        self._unacknowledged.append(number)
        write.add_done_callback(lambda done: self._on_done(number, done))

    def mark(self) -> int:
        """The number of the latest write issued: what a claim made now depends on."""
        return self._issued

    def acknowledged_through(self) -> int:
        """Every write numbered up to this has been acknowledged."""
        return self._unacknowledged[0] - 1 if self._unacknowledged else self._issued

    def on_progress(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def _on_done(self, number: int, write: asyncio.Future[Any]) -> None:
        if write.cancelled() or write.exception() is not None:
            # Never acknowledged: the claims that wait for it stay unpublished (the event will be
            # processed again after a restart, and its records with it).
            self.failed = f"a changelog write failed: {write.exception()!r}"
            log.error("changelog.write_failed", write=number, error=repr(write.exception()))
            return
        self._acknowledged.add(number)
        while self._unacknowledged and self._unacknowledged[0] in self._acknowledged:
            self._acknowledged.discard(self._unacknowledged.popleft())
        for listener in self._listeners:
            listener()


class TrackedTable(faust.Table[bytes, bytes]):
    """A faust table that reports each changelog write to `writes` (set by the composition root)."""

    writes: ChangelogWrites | None = None

    def send_changelog(self, *args: Any, **kwargs: Any) -> Any:
        write = super().send_changelog(*args, **kwargs)
        if self.writes is not None:
            self.writes.track(write)
        return write
