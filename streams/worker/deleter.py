"""Carries out deletions the rules decided: batched, several at once, retried until they succeed.

A deletion is never dropped. When the object store fails, the objects wait with a growing delay
(capped) and are tried again; each confirmed deletion is reported through `confirm` so the alarm's state
and the audit trail record it.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from handlers.commands import DeletedObject
from streams.clock import Clock
from streams.s3.object_store import DeletionReport, ObjectStore

log = structlog.get_logger(__name__)

# confirm(partition, objects, deleted_at): publish that these objects are gone.
Confirm = Callable[[int, list[DeletedObject], datetime], Awaitable[None]]
Ref = tuple[str, str]  # (bucket, key)


@dataclass
class _Job:
    owners: set[tuple[int, str]] = field(default_factory=set)  # (partition, alarm_id)
    attempts: int = 0
    lift_legal_hold: bool = False  # we placed an S3 legal hold on it (R2 limit reached): lift it first


class Deleter:
    def __init__(
        self,
        store: ObjectStore,
        clock: Clock,
        confirm: Confirm,
        allowed_buckets: Collection[str],
        *,
        batch_size: int = 1000,
        concurrency: int = 4,
        linger: float = 0.02,
        first_retry: float = 0.5,
        max_retry: float = 60.0,
    ) -> None:
        self._store = store
        self._clock = clock
        self._confirm = confirm
        self._allowed = frozenset(allowed_buckets)
        self._batch_size = batch_size
        self._slots = asyncio.Semaphore(concurrency)
        self._linger = linger
        self._first_retry = first_retry
        self._max_retry = max_retry
        self._jobs: dict[Ref, _Job] = {}  # every object not yet confirmed deleted
        self._ready: dict[str, dict[str, None]] = {}  # bucket -> keys to send, in arrival order
        self._wakeup = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self.deleted_total = 0
        self.failures_total = 0  # objects that failed and were scheduled again
        self.errors_total = 0  # requests to the object store that failed as a whole
        self.last_failure: tuple[float, str] | None = None  # (monotonic time, reason)

    @property
    def outstanding(self) -> int:
        """Objects handed to us and not yet confirmed deleted (queued, in flight or retrying)."""
        return len(self._jobs)

    def submit(
        self, partition: int, alarm_id: str, objects: Iterable[Ref], *, lift_legal_hold: bool = False
    ) -> None:
        for bucket, key in objects:
            if bucket not in self._allowed:
                # Decoding refuses such events; this is the last line of defence, not a path.
                log.error("deletion.refused_bucket_not_allowed", bucket=bucket, alarm_id=alarm_id)
                continue
            job = self._jobs.get((bucket, key))
            if job is None:
                job = self._jobs[(bucket, key)] = _Job()
                self._ready.setdefault(bucket, {})[key] = None
            job.owners.add((partition, alarm_id))
            job.lift_legal_hold |= lift_legal_hold
        self._wakeup.set()

    async def run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            await asyncio.sleep(self._linger)  # let a burst of due media gather into full batches
            while self._ready:
                bucket = next(iter(self._ready))
                keys = self._take(bucket)
                await self._slots.acquire()
                task = asyncio.create_task(self._delete(bucket, keys))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    def _take(self, bucket: str) -> list[str]:
        waiting = self._ready[bucket]
        keys = []
        for key in waiting:
            keys.append(key)
            if len(keys) == self._batch_size:
                break
        for key in keys:
            del waiting[key]
        if not waiting:
            del self._ready[bucket]
        return keys

    async def _delete(self, bucket: str, keys: list[str]) -> None:
        try:
            try:
                report = await self._lift_then_delete(bucket, keys)
            except Exception as exc:
                self.errors_total += 1
                report = DeletionReport(frozenset(), {key: f"{type(exc).__name__}: {exc}" for key in keys})
            deleted_at = self._clock.now()
            await self._settle(bucket, report, deleted_at)
        finally:
            self._slots.release()

    async def _lift_then_delete(self, bucket: str, keys: list[str]) -> DeletionReport:
        to_lift = [key for key in keys if (job := self._jobs.get((bucket, key))) and job.lift_legal_hold]
        lifted = await self._store.set_legal_hold(bucket, to_lift, on=False) if to_lift else None
        if lifted is None or not lifted.failed:
            return await self._store.delete_all_versions(bucket, keys)
        # Deleting a version still under our legal hold would only fail: try those again later.
        rest = [key for key in keys if key not in lifted.failed]
        report = await self._store.delete_all_versions(bucket, rest)
        return DeletionReport(report.deleted, {**report.failed, **lifted.failed})

    async def _settle(self, bucket: str, report: DeletionReport, deleted_at: datetime) -> None:
        by_partition: dict[int, list[DeletedObject]] = {}
        for key in report.deleted:
            job = self._jobs.pop((bucket, key), None)
            if job is None:
                continue
            for partition, alarm_id in job.owners:
                by_partition.setdefault(partition, []).append(
                    DeletedObject(alarm_id=alarm_id, bucket=bucket, key=key)
                )
        self.deleted_total += len(report.deleted)
        for key, reason in report.failed.items():
            self._retry_later(bucket, key, reason)
        for partition, objects in by_partition.items():
            await self._confirm_until_sent(partition, objects, deleted_at)

    def _retry_later(self, bucket: str, key: str, reason: str) -> None:
        job = self._jobs.get((bucket, key))
        if job is None:
            return
        job.attempts += 1
        self.failures_total += 1
        self.last_failure = (time.monotonic(), reason)
        delay = min(self._max_retry, self._first_retry * 2 ** (job.attempts - 1))
        delay *= random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not cryptography
        log.warning(
            "deletion.failed_will_retry",
            bucket=bucket,
            attempts=job.attempts,
            retry_in_seconds=round(delay, 2),
            reason=reason,
        )
        asyncio.get_running_loop().call_later(delay, self._requeue, bucket, key)

    def _requeue(self, bucket: str, key: str) -> None:
        if (bucket, key) in self._jobs:
            self._ready.setdefault(bucket, {})[key] = None
            self._wakeup.set()

    async def _confirm_until_sent(
        self, partition: int, objects: list[DeletedObject], deleted_at: datetime
    ) -> None:
        # The objects are gone; what must not be lost now is the record of it.
        delay = self._first_retry
        while True:
            try:
                await self._confirm(partition, objects, deleted_at)
                return
            except Exception as exc:
                log.warning("deletion.confirm_failed_will_retry", partition=partition, reason=str(exc))
                await asyncio.sleep(delay)
                delay = min(self._max_retry, delay * 2)
