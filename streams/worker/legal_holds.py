"""Keeps S3 Object Lock legal holds in line with the police holds, as a second line of defence.

While a police hold is active, its media's versions carry a legal hold where the bucket has Object
Lock, so nothing else (a lifecycle rule, a mistaken script) can delete the evidence either. The latest
wish for an object wins, so a quick place-and-release never leaves a stale hold behind; failures are
retried with backoff until S3 agrees.
"""

from __future__ import annotations

import asyncio
import random

import structlog

from streams.s3.object_store import DeletionReport, ObjectStore

log = structlog.get_logger(__name__)
Ref = tuple[str, str]


class LegalHoldKeeper:
    def __init__(
        self,
        store: ObjectStore,
        *,
        batch_size: int = 100,
        first_retry: float = 0.5,
        max_retry: float = 60.0,
    ) -> None:
        self._store = store
        self._batch_size = batch_size
        self._first_retry = first_retry
        self._max_retry = max_retry
        self._wanted: dict[Ref, bool] = {}  # objects whose legal hold is not yet as wanted
        self._ready: set[Ref] = set()
        self._attempts: dict[Ref, int] = {}
        self._wakeup = asyncio.Event()
        self.applied_total = 0
        self.failures_total = 0  # objects that failed and were scheduled again
        self.errors_total = 0  # requests to the object store that failed as a whole

    @property
    def outstanding(self) -> int:
        return len(self._wanted)

    def want(self, objects: list[Ref], on: bool) -> None:
        for ref in objects:
            self._wanted[ref] = on
            self._ready.add(ref)
        if objects:
            self._wakeup.set()

    async def run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._ready:
                batch = self._take()
                for (bucket, on), keys in batch.items():
                    try:
                        report = await self._store.set_legal_hold(bucket, keys, on)
                    except Exception as exc:
                        self.errors_total += 1
                        report = DeletionReport(
                            frozenset(), {k: f"{type(exc).__name__}: {exc}" for k in keys}
                        )
                    self._settle(bucket, on, report)

    def _take(self) -> dict[tuple[str, bool], list[str]]:
        batch: dict[tuple[str, bool], list[str]] = {}
        for _ in range(min(self._batch_size, len(self._ready))):
            bucket, key = ref = self._ready.pop()
            batch.setdefault((bucket, self._wanted[ref]), []).append(key)
        return batch

    def _settle(self, bucket: str, on: bool, report: DeletionReport) -> None:
        for key in report.deleted:
            if self._wanted.get((bucket, key)) == on:  # a newer wish may have come meanwhile
                del self._wanted[(bucket, key)]
                self._attempts.pop((bucket, key), None)
                self.applied_total += 1
        for key, reason in report.failed.items():
            ref = (bucket, key)
            attempts = self._attempts[ref] = self._attempts.get(ref, 0) + 1
            self.failures_total += 1
            delay = min(self._max_retry, self._first_retry * 2 ** (attempts - 1)) * random.uniform(0.8, 1.2)  # noqa: S311
            log.warning(
                "legal_hold.failed_will_retry", bucket=bucket, on=on, attempts=attempts, reason=reason
            )
            asyncio.get_running_loop().call_later(delay, self._retry, ref)

    def _retry(self, ref: Ref) -> None:
        if ref in self._wanted:
            self._ready.add(ref)
            self._wakeup.set()
