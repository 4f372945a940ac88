"""A local stack with a cuttable line in front of the broker and in front of the store, and workers."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from chaos.check import Report, Watched, check
from chaos.load import LoadGenerator, Plan
from chaos.proxy import CuttableProxy
from streams.kafka import topic_ends
from streams.local.stack import INPUT_TOPICS, LocalStack, Ports, _free_port
from streams.local.worker_process import WorkerProcess
from streams.protection.keyring import subject_keys_on_broker
from streams.protection.sealing import reveal

BUCKET = "chaos-media"
RETENTION = timedelta(seconds=15)
HOLD_LIMIT = timedelta(seconds=45)
# How often the bucket is listed: the resolution of every "when did it go" the checks use.
WATCH_SECONDS = 0.25


class BucketWatch:
    """Lists every version in the bucket (list_object_versions) every WATCH_SECONDS and notes, for each
    object the load uploaded, the last listing that still showed a version or delete marker of it
    (`present_at`, when that listing was asked) and the first that showed none (`gone_at`, when it was
    answered): when the world lost it, whatever the service's records say. An object uploaded and
    deleted between two listings is still seen gone, since the load tells the watch what it uploaded."""

    def __init__(self, s3: Any) -> None:
        self._s3 = s3
        self.gone_at: dict[str, datetime] = {}
        self.present_at: dict[str, datetime] = {}
        self._uploaded: dict[str, datetime] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="bucket-watch")

    def start(self) -> BucketWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def uploaded(self, keys: list[str]) -> None:
        """Called by the load once `keys` are in the bucket."""
        now = datetime.now(UTC)
        with self._lock:
            for key in keys:
                self._uploaded.setdefault(key, now)

    def _run(self) -> None:
        while not self._stop.is_set():
            asked = datetime.now(UTC)
            try:
                present: set[str] | None = _keys_in(self._s3)
            except Exception:  # the store cut off by a scenario: nothing learnt this round
                present = None
            answered = datetime.now(UTC)
            if present is not None:
                with self._lock:
                    uploaded = dict(self._uploaded)
                for key, at in uploaded.items():
                    if key in self.gone_at or at > asked:
                        continue
                    if key in present:
                        self.present_at[key] = asked
                    else:
                        self.gone_at[key] = answered
            self._stop.wait(WATCH_SECONDS)


class ChaosRig:
    def __init__(
        self,
        root: Path,
        retention: timedelta = RETENTION,
        hold_limit: timedelta = HOLD_LIMIT,
        broker_storage: str = "memory",
    ) -> None:
        self.root = root
        self.retention, self.hold_limit = retention, hold_limit
        ports = Ports.free()
        self.broker_line = CuttableProxy(_free_port(), ports.kafka)
        self.store_line = CuttableProxy(_free_port(), ports.s3)
        self.stack = LocalStack(
            root / "stack",
            ports,
            advertised_kafka_port=self.broker_line.listen_port,
            broker_storage=broker_storage,
        )
        self.workers: list[WorkerProcess] = []
        self._watch: BucketWatch | None = None

    def start(self) -> None:
        self.broker_line.start()
        self.store_line.start()
        self.stack.start()
        self.stack.create_topics(INPUT_TOPICS, partitions=4)
        self.stack.create_bucket(BUCKET)

    def stop(self) -> None:
        if self._watch is not None:
            self._watch.stop()
        for worker in self.workers:
            worker.kill()
        self.stack.stop()
        self.broker_line.stop()
        self.store_line.stop()

    def worker(self, name: str, wait: bool = True) -> WorkerProcess:
        process = WorkerProcess(
            self.stack,
            self.root / f"{name}.log",
            S3_ENDPOINT_URL=f"http://127.0.0.1:{self.store_line.listen_port}",
            MEDIA_BUCKETS=BUCKET,
            MEDIA_RETENTION=f"PT{self.retention.total_seconds():.0f}S",
            HOLD_RETENTION=f"PT{self.hold_limit.total_seconds():.0f}S",
            HOLD_EXPIRY_WARNING="PT5S",
            APP_ID="chaos",
            PARTITIONS="4",
        ).start()
        self.workers.append(process)
        if wait:
            process.wait_ready(timeout=180)
        return process

    def load(self) -> LoadGenerator:
        """The load generator; the bucket is watched from now on."""
        if self._watch is None:
            self._watch = BucketWatch(self.stack.s3_client()).start()
        plan = Plan(retention=self.retention, hold_limit=self.hold_limit)
        return LoadGenerator(
            self.stack.kafka_bootstrap, self.stack.s3_client(), BUCKET, plan, uploaded=self._watch.uploaded
        )

    async def settle_and_check(
        self,
        scenario: str,
        plan: Plan,
        bound: timedelta,
        outages: Sequence[tuple[datetime, datetime]] = (),
    ) -> Report:
        """Wait until everything sent is due plus `bound` (and the watch has listed the bucket since), or
        until everything is due and the watch has seen every object go, then check against what the
        bucket showed."""
        assert self._watch is not None
        watch = self._watch
        last_due = max(a.triggered_at for a in plan.alarms.values()) + self.hold_limit
        keys = [key for alarm in plan.alarms.values() for key in alarm.keys]
        down = sum((ended - began for began, ended in outages), timedelta(0))
        while datetime.now(UTC) < last_due + bound + down + timedelta(seconds=2):
            if datetime.now(UTC) > last_due and all(key in watch.gone_at for key in keys):
                break
            await asyncio.sleep(0.5)
        now = datetime.now(UTC)
        audit = await read_topic(self.stack.kafka_bootstrap, "retention-audit")
        still_there = await asyncio.to_thread(_keys_in, self.stack.s3_client())
        await asyncio.sleep(2 * WATCH_SECONDS)  # a listing of the watch's own after `now`
        watched = Watched(dict(self._watch.gone_at), dict(self._watch.present_at), WATCH_SECONDS)
        report = check(scenario, plan, audit, still_there, now, bound, watched, outages)
        if report.problems:
            await self._keep_evidence(audit)
        return report

    async def _keep_evidence(self, audit: list[dict[str, Any]]) -> None:
        """Tansu forgets everything when it stops: keep what the topics held, to find out why."""
        topics = {"audit": audit}
        for name in ("police-holds", "retention-deadletter", "alarm-events"):
            topics[name] = await read_topic(self.stack.kafka_bootstrap, name)
        for name, records in topics.items():
            path = self.root / f"{name}.jsonl"
            path.write_text("".join(json.dumps(r) + "\n" for r in records))


def _keys_in(s3: Any) -> set[str]:
    """Every key with a version or a delete marker left in the bucket."""
    keys: set[str] = set()
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=BUCKET):
        keys.update(item["Key"] for item in page.get("Versions", []) + page.get("DeleteMarkers", []))
    return keys


async def read_topic(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """The topic's JSON records; the audit trail's as a reader with the keys shows it."""
    options = {"bootstrap_servers": bootstrap}
    documents = [json.loads(r.value) for r in await topic_ends.read_topic(options, topic)]
    if topic.endswith("-audit") and any("encrypted" in d for d in documents):
        keys = await subject_keys_on_broker(options)
        documents = [reveal(d, keys) for d in documents]
    return documents


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds it took; fails after `timeout`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what} did not happen within {timeout} s")
        time.sleep(0.25)
    return time.monotonic() - started
