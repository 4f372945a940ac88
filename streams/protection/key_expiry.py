"""Destroys each subject key when its end comes, and forgets the destroyed entry once no audit record it
sealed can still exist (streams/protection/subject_keys.py). The due keys of a partition are sent to it
on the internal topic, so that the table is written in stream processing of that partition.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Collection
from datetime import datetime, timedelta

import structlog

from handlers.commands import SubjectKeysDue
from streams.clock import Clock
from streams.protection.subject_keys import SubjectKey, SubjectKeys, parse_table_key
from streams.worker.scheduler import Index, Scheduler

log = structlog.get_logger(__name__)
SendInternal = Callable[[int, bytes], Awaitable[None]]


class KeyExpiry:
    def __init__(
        self,
        keys: SubjectKeys,
        records_kept: timedelta,
        clock: Clock,
        send_internal: SendInternal,
        index: Index,
    ) -> None:
        self._keys = keys
        self._records_kept = records_kept
        self._clock = clock
        self._send_internal = send_internal
        self.scheduler = Scheduler(index, clock, self._notify)
        self.destroyed = 0  # since start, for the metrics

    def track(self, name: str, key: SubjectKey) -> None:
        partition = parse_table_key(name)[0]
        self.scheduler.track(name, partition, self._next(key))

    def _next(self, key: SubjectKey) -> datetime:
        return key.ends_at if key.ended_at is None else key.ended_at + self._records_kept

    def on_due(self, command: SubjectKeysDue, partition: int) -> None:
        now = self._clock.now()
        for name in command.names:
            known = self._keys.get(name)
            if parse_table_key(name)[0] != partition:
                continue
            if known is None:
                self.scheduler.track(name, partition, None)
                continue
            if self._next(known) > now:
                self.track(name, known)  # moved since; not yet
            elif known.ended_at is None:
                destroyed = self._keys.destroy(name, now)
                assert destroyed is not None
                self.track(name, destroyed)
                self.destroyed += 1
                log.info("subject_key.destroyed", partition=partition, subject=parse_table_key(name)[1].value)
            else:
                self._keys.forget(name)
                self.scheduler.track(name, partition, None)

    def rebuild(self, partitions: Collection[int]) -> int:
        self.scheduler.index.clear()
        owned = set(partitions)
        entries = [
            (name, parse_table_key(name)[0], self._next(key))
            for name, key in self._keys.entries()
            if parse_table_key(name)[0] in owned
        ]
        self.scheduler.track_many(entries)
        return len(entries)

    def forget_partitions(self, partitions: Collection[int]) -> None:
        self.scheduler.index.drop_partitions(partitions)
        self._keys.forget_partitions(partitions)

    async def _notify(self, partition: int, names: list[str], checked_at: datetime) -> None:
        command = SubjectKeysDue(event_id=str(uuid.uuid4()), names=tuple(names), checked_at=checked_at)
        await self._send_internal(partition, command.model_dump_json().encode("utf-8"))
