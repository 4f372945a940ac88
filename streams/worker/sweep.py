"""The reconciliation sweep: list the media buckets, compare with what the service knows, act.

It runs on the worker that owns partition 0 (every SWEEP_INTERVAL, or when an operator asks) and is
gentle with a large bucket: the listing is paged and held to SWEEP_MAX_KEYS_PER_SECOND. What the
service knows comes from the read model (every alarm, whatever partitions this worker owns). The
findings go through the internal topic to partition 0, whose owner writes them to the audit trail;
alarms with overdue media are handed to their own partition's stream, which decides in order with the
holds. See handlers/sweep.py for the judgement.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Collection
from datetime import timedelta
from typing import Literal

import structlog

from handlers.commands import FoundObject, SweepCompleted, SweepFindings
from handlers.policy import RetentionPolicy
from handlers.sweep import Known, Verdict, judge, known_media
from streams.clock import Clock
from streams.kafka.partitioning import partition_for
from streams.s3.object_store import ObjectStore, StoredObject, failure_reason
from streams.worker.read_model import ReadModel

log = structlog.get_logger(__name__)

SendToPartition0 = Callable[[bytes], Awaitable[None]]
AskForCheck = Callable[[int, list[str]], Awaitable[None]]  # (partition, alarm ids)
OVERDUE_AFTER = timedelta(minutes=1)  # the scheduler normally acts within a second of a deadline
PAGE_SIZE = 1000
READ_MODEL_WAIT = timedelta(minutes=5)
YIELD_EVERY = 500  # alarms decoded between two yields to the event loop while indexing


class Sweeper:
    def __init__(
        self,
        *,
        store: ObjectStore,
        clock: Clock,
        read_model: ReadModel,
        policy: RetentionPolicy,
        buckets: Collection[str],
        grace: timedelta,
        keys_per_second: float,
        report: SendToPartition0,
        ask_for_check: AskForCheck,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._store = store
        self._clock = clock
        self._read = read_model
        self._policy = policy
        self._buckets = sorted(buckets)
        self._grace = grace
        self._keys_per_second = keys_per_second
        self._report = report
        self._ask_for_check = ask_for_check
        self._sleep = sleep
        self._running: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._running is not None and not self._running.done()

    def start(self, sweep_id: str, requested_by: str) -> bool:
        """Start a sweep in the background; False when one is already running."""
        if self.running:
            log.info("sweep.already_running", sweep_id=sweep_id)
            return False
        self._running = asyncio.create_task(self.sweep(sweep_id, requested_by), name=f"sweep-{sweep_id}")
        return True

    async def sweep(self, sweep_id: str, requested_by: str) -> None:
        started_at = self._clock.now()
        counts = {verdict.value: 0 for verdict in Verdict} | {"listed": 0, "deleted": 0, "kept": 0}
        status: Literal["completed", "failed"] = "completed"
        error: str | None = None
        log.info("sweep.started", sweep_id=sweep_id, requested_by=requested_by, buckets=self._buckets)
        try:
            await self._wait_for_read_model()
            for bucket in self._buckets:
                await self._sweep_bucket(sweep_id, bucket, counts)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the store went away: say so; the next sweep starts over
            status = "failed"
            error = failure_reason(exc)
            log.warning("sweep.failed", sweep_id=sweep_id, error=error)
        summary = SweepCompleted(
            event_id=str(uuid.uuid4()),
            sweep_id=sweep_id,
            requested_by=requested_by,
            started_at=started_at,
            finished_at=self._clock.now(),
            status=status,
            counts=counts,
            error=error,
        )
        await self._report(summary.model_dump_json().encode("utf-8"))
        log.info("sweep.finished", sweep_id=sweep_id, status=status, **counts)

    async def _wait_for_read_model(self) -> None:
        """Judging against a read model still loading would report known objects as unknown."""
        for _ in range(int(READ_MODEL_WAIT.total_seconds())):
            if await self._read.caught_up():
                return
            await self._sleep(1.0)
        raise RuntimeError(f"the read model did not catch up within {READ_MODEL_WAIT}")

    async def _sweep_bucket(self, sweep_id: str, bucket: str, counts: dict[str, int]) -> None:
        index = await self._index(bucket)
        began = time.monotonic()
        listed = 0
        async for page in self._store.list_objects(bucket, PAGE_SIZE):
            await self._handle_page(sweep_id, bucket, page, index, counts)
            listed += len(page)
            # Hold the listing (and the deletions it leads to) to the configured rate.
            ahead = listed / self._keys_per_second - (time.monotonic() - began)
            if ahead > 0:
                await self._sleep(ahead)

    async def _index(self, bucket: str) -> dict[str, Known]:
        """Key -> what we know, for one bucket (built a bucket at a time to bound the memory)."""
        index: dict[str, Known] = {}
        n = 0
        async for state in self._read.every_alarm():
            for media_bucket, key, known in known_media(state):
                if media_bucket == bucket:
                    index[key] = known
            n += 1
            if n % YIELD_EVERY == 0:
                await asyncio.sleep(0)
        return index

    async def _handle_page(
        self,
        sweep_id: str,
        bucket: str,
        page: list[StoredObject],
        index: dict[str, Known],
        counts: dict[str, int],
    ) -> None:
        now = self._clock.now()
        found: dict[Verdict, list[tuple[StoredObject, Known | None]]] = {}
        for item in page:
            known = index.get(item.key)
            verdict = judge(item.last_modified, known, now, self._policy, self._grace, OVERDUE_AFTER)
            counts["listed"] += 1
            counts[verdict.value] += 1
            if verdict is not Verdict.FINE:
                found.setdefault(verdict, []).append((item, known))
        for verdict, items in found.items():
            if verdict in (Verdict.ORPHAN, Verdict.LEFT_BEHIND):
                outcomes = await self._delete(bucket, [item.key for item, _ in items])
            else:
                outcomes = {item.key: "reported" for item, _ in items}
            if verdict is Verdict.OVERDUE:
                await self._remind(sorted({known.alarm_id for _, known in items if known is not None}))
            for outcome in outcomes.values():
                if outcome == "deleted":
                    counts["deleted"] += 1
                elif outcome.startswith("kept"):
                    counts["kept"] += 1
            findings = SweepFindings(
                event_id=str(uuid.uuid4()),
                sweep_id=sweep_id,
                verdict=verdict.value,
                objects=tuple(
                    FoundObject(
                        bucket=bucket,
                        key=item.key,
                        alarm_id=known.alarm_id if known is not None else None,
                        last_modified=item.last_modified,
                        outcome=outcomes[item.key],
                    )
                    for item, known in items
                ),
            )
            await self._report(findings.model_dump_json().encode("utf-8"))

    async def _delete(self, bucket: str, keys: list[str]) -> dict[str, str]:
        report = await self._store.delete_all_versions(bucket, keys)
        outcomes = {key: "deleted" for key in report.deleted}
        for key, why in report.failed.items():
            outcomes[key] = f"kept: {why[:200]}"  # e.g. an Object Lock legal hold someone else placed
        for key in keys:
            outcomes.setdefault(key, "kept: the store did not confirm the deletion")
        return outcomes

    async def _remind(self, alarm_ids: list[str]) -> None:
        by_partition: dict[int, list[str]] = {}
        for alarm_id in alarm_ids:
            by_partition.setdefault(partition_for(alarm_id, self._read.partitions), []).append(alarm_id)
        for partition, ids in sorted(by_partition.items()):
            await self._ask_for_check(partition, ids)
