"""Knowing when what the service sent is durable, so that nothing claims it, or commits past it, before.

Two promises rest on this. An audit record must not be durable before the state it describes: a
decision writes the alarm's new state to its table (faust sends it to the changelog) and publishes audit
records, both buffered by the same producer but on different topics, which on a cluster have different
leaders; a `hold.accepted` acknowledged before the state that holds the hold, then a crash, would promise
the police a hold the recovered state does not have. So audit records wait (streams/audit/chain.py)
until the changelog writes before them are acknowledged. And an input offset must not be committed
before everything its events caused is durable: faust flushes its producer before a commit, but its
buffer's flush gives up after 0.1 s without progress, so records still buffered could be lost with
their offsets committed. So the commit waits (streams/kafka/transport.py) until every message sent
before it has been acknowledged.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

import faust
import structlog

log = structlog.get_logger(__name__)


class SendFailed(Exception):
    """A message the service relies on was not acknowledged: what depends on it must not go ahead."""


class Acknowledgements:
    """Numbers the messages it tracks and tells up to which number all are acknowledged."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._issued = 0
        self._unacknowledged: deque[int] = deque()  # in the order issued
        self._acknowledged: set[int] = set()  # acknowledged out of order, ahead of an older message
        self._listeners: list[Callable[[], None]] = []
        self._on_failure: list[Callable[[SendFailed], None]] = []
        self._progress = asyncio.Event()
        self.failed: SendFailed | None = None  # once set, nothing after the failed message is released

    def track(self, sent: asyncio.Future[Any]) -> None:
        self._issued += 1
        number = self._issued
        self._unacknowledged.append(number)
        sent.add_done_callback(lambda done: self._on_done(number, done))

    def mark(self) -> int:
        """The number of the latest message sent: what a claim made now depends on."""
        return self._issued

    def acknowledged_through(self) -> int:
        """Every message numbered up to this has been acknowledged."""
        return self._unacknowledged[0] - 1 if self._unacknowledged else self._issued

    async def reached(self, mark: int) -> None:
        """Until every message up to `mark` is acknowledged; raises SendFailed if one never will be."""
        while self.acknowledged_through() < mark:
            if self.failed is not None:
                raise self.failed
            self._progress.clear()
            await self._progress.wait()

    def on_progress(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def on_failure(self, handler: Callable[[SendFailed], None]) -> None:
        self._on_failure.append(handler)

    def _on_done(self, number: int, sent: asyncio.Future[Any]) -> None:
        problem = "cancelled" if sent.cancelled() else sent.exception()
        if problem is not None:
            if self.failed is None:
                self.failed = SendFailed(f"a message to {self.name} was not acknowledged: {problem!r}")
                log.error("send.failed", what=self.name, error=repr(problem))
                for handler in self._on_failure:
                    handler(self.failed)
            self._progress.set()
            return
        self._acknowledged.add(number)
        while self._unacknowledged and self._unacknowledged[0] in self._acknowledged:
            self._acknowledged.discard(self._unacknowledged.popleft())
        self._progress.set()
        for listener in self._listeners:
            listener()


class TrackedTable(faust.Table[bytes, bytes]):
    """A faust table that reports each changelog write to `writes` (set by the composition root)."""

    writes: Acknowledgements | None = None

    def send_changelog(self, *args: Any, **kwargs: Any) -> Any:
        write = super().send_changelog(*args, **kwargs)
        if self.writes is not None:
            self.writes.track(write)
        return write
