"""What every scenario needs: the local stack, fresh topics, a worker process, fast producing, a tap on
the audit topic, uploads, a watch on the bucket, and percentiles only where the sample supports them."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import math
import os
import platform
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streams.local.postgres import LocalPostgres
from streams.local.stack import (
    LocalStack,
    _free_port,
    input_topics_of,
    isolated_topics,
    tansu_binary,
    weed_binary,
)
from streams.local.worker_process import WorkerProcess


@dataclass
class Figure:
    scenario: str
    name: str
    value: float
    unit: str
    baseline: str | None = None
    baseline_value: float | None = None
    goal: str | None = None
    met: bool | None = None
    note: str | None = None
    n: int | None = None  # the sample a statistic is computed from

    @property
    def ratio(self) -> float | None:
        if self.baseline_value in (None, 0):
            return None
        return self.value / self.baseline_value


@dataclass
class Bench:
    root: Path
    full: bool
    stack: LocalStack
    figures: list[Figure] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    postgres: LocalPostgres | None = None

    def database(self, name: str) -> str:
        """A fresh database on the bench's PostgreSQL (started at the first call; stopped by `close`)."""
        if self.postgres is None:
            self.postgres = LocalPostgres(self.root / "postgres" / "data", _free_port())
            self.postgres.start()
        return self.postgres.create_database(name)

    def close(self) -> None:
        if self.postgres is not None:
            self.postgres.stop()

    def record(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        ratio = f"  ratio {figure.ratio:.2f}" if figure.ratio is not None else ""
        met = "" if figure.met is None else ("  goal met" if figure.met else "  GOAL MISSED")
        n = f"  (n={figure.n:,})" if figure.n is not None else ""
        print(f"  {figure.name}: {figure.value:,.3f} {figure.unit}{n}{ratio}{met}", flush=True)
        return figure

    def record_spread(
        self,
        scenario: str,
        name: str,
        values: list[float],
        unit: str,
        goals: dict[str, tuple[str, Callable[[float], bool]]] | None = None,
        note: str | None = None,
    ) -> None:
        """The statistics of `values` that their number supports (see `spread`), each with n."""
        for label, value in spread(values):
            goal, test = (goals or {}).get(label, (None, None))
            self.record(
                Figure(
                    scenario,
                    f"{name}, {label}",
                    value,
                    unit,
                    goal=goal,
                    met=None if test is None else test(value),
                    n=len(values),
                    note=note,
                )
            )

    def problem(self, text: str) -> None:
        """Something the world showed that the run must not pass with (the run exits 1)."""
        self.problems.append(text)
        print(f"  PROBLEM: {text}", flush=True)

    async def topics(self, scenario: str, partitions: int = 4) -> dict[str, str]:
        """Fresh topics and a fresh app id, so scenarios never see each other's records."""
        prefix = f"bench-{scenario}-{uuid.uuid4().hex[:6]}"
        names = isolated_topics(prefix)
        await asyncio.to_thread(self.stack.create_topics, input_topics_of(names), partitions)
        return {**names, "APP_ID": prefix}

    async def worker(self, name: str, **settings: str) -> WorkerProcess:
        return await self.worker_ready_within(300, name, settings)

    async def worker_ready_within(self, seconds: float, name: str, settings: dict[str, str]) -> WorkerProcess:
        """A worker process as deployed (with an archive: it builds no read model of its own; the
        projector, on its own machine in production, is not run beside it here), once it is ready; the
        waiting happens off the event loop."""
        app_id = settings.get("APP_ID", "bench")
        # Not in a thread: a server dies with the thread that started it (PR_SET_PDEATHSIG is per thread).
        database = self.database(app_id.replace("-", "_"))
        options = {"LOG_LEVEL": "INFO", "DATABASE_URL": database, **settings}
        process = WorkerProcess(self.stack, self.root / f"{name}.log", **options).start()
        await asyncio.to_thread(process.wait_ready, seconds)
        return process


async def produce(bootstrap: str, topic: str, records: Iterable[tuple[bytes, bytes]]) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    sent = 0
    try:
        pending = []
        for key, value in records:
            pending.append(await producer.send(topic, value, key=key))
            sent += 1
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return sent


class AuditTap:
    """Follows a topic from its beginning in the background, keeping the JSON records and when they came."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap, self.topic = bootstrap, topic
        self.records: list[tuple[float, dict[str, Any]]] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> AuditTap:
        self._task = asyncio.create_task(self._follow())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _follow(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            partitions = consumer.partitions_for_topic(self.topic)
            while partitions is None:
                await asyncio.sleep(0.5)
                await consumer._client.force_metadata_update()
                partitions = consumer.partitions_for_topic(self.topic)
            tps = [TopicPartition(self.topic, p) for p in partitions]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            while True:
                for batch in (await consumer.getmany(timeout_ms=200, max_records=10_000)).values():
                    now = time.time()
                    self.records.extend((now, json.loads(r.value)) for r in batch)
        finally:
            await consumer.stop()

    def matching(self, predicate: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        return [r for _, r in self.records if predicate(r)]

    async def wait_for_objects(
        self, predicate: Callable[[dict[str, Any]], bool], objects: int, timeout: float
    ) -> list[dict[str, Any]]:
        """Until the matching records name `objects` objects in all (a record may name many)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.matching(predicate)
            if sum(len(r.get("objects", [])) for r in found) >= objects:
                return found
            await asyncio.sleep(0.1)
        raise TimeoutError(
            f"fewer than {objects} objects in matching records on {self.topic} after {timeout} s"
        )

    async def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], count: int, timeout: float
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        seen = 0
        found: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            new = self.records[seen:]
            seen += len(new)
            found.extend(r for _, r in new if predicate(r))
            if len(found) >= count:
                return found
            await asyncio.sleep(0.1)
        raise TimeoutError(f"only {len(found)} of {count} records on {self.topic} after {timeout} s")


def upload(stack: LocalStack, bucket: str, keys: list[str], threads: int = 32) -> float:
    """Put a small object at each key; return objects per second."""
    client = stack.s3_client(max_pool_connections=threads)
    body = b"\xff\xd8\xff\xe0" + b"x" * 2048 + b"\xff\xd9"  # a 2 KB stand-in for a JPEG
    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda key: client.put_object(Bucket=bucket, Key=key, Body=body), keys))
    return len(keys) / (time.monotonic() - started)


def alarm_event(alarm_id: str, keys: list[str], bucket: str, triggered_at: datetime) -> bytes:
    return json.dumps(
        {
            "type": "alarm.triggered",
            "event_id": str(uuid.uuid4()),
            "alarm_id": alarm_id,
            "customer_id": f"bench-customer-{hash(alarm_id) % 1000}",
            "triggered_at": triggered_at.isoformat(),
            "media": [{"bucket": bucket, "key": key} for key in keys],
        }
    ).encode()


# Percentiles only where the sample supports them. A percentile here is the nearest-rank one: the
# ceil(q * n)-th smallest value. For n < 1 / (1 - q) that is the largest value, so "p99" of 10 or 50
# samples would be the maximum under another name. The rule: a percentile is reported only when n is at
# least 1 / (1 - q) (p50: 2, p95: 20, p99: 100); below that the maximum is reported, labelled max.
# Every statistic is reported with its n.
MIN_SAMPLE = {0.5: 2, 0.95: 20, 0.99: 100}


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile; refuses a sample too small for it (see MIN_SAMPLE)."""
    needed = MIN_SAMPLE.get(share)
    if needed is None:
        raise ValueError(f"no sample rule for the {share} percentile")
    if len(values) < needed:
        raise ValueError(f"p{share * 100:g} needs at least {needed} values, not {len(values)}")
    ordered = sorted(values)
    return ordered[math.ceil(share * len(ordered)) - 1]


def spread(values: list[float]) -> list[tuple[str, float]]:
    """p50, p95 and p99 where n supports them (MIN_SAMPLE), then the max; a single value is itself."""
    if not values:
        raise ValueError("no values")
    if len(values) == 1:
        return [("the only value", values[0])]
    found = [
        (f"p{share * 100:g}", percentile(values, share))
        for share, n in MIN_SAMPLE.items()
        if len(values) >= n
    ]
    return [*found, ("max", max(values))]


# --- the world's account: listing every version in the bucket -------------------------------------------


def _entries(page: dict[str, Any]) -> list[dict[str, Any]]:
    """Versions and delete markers: an object is gone only when neither is left."""
    return list(page.get("Versions", [])) + list(page.get("DeleteMarkers", []))


def versions_left(s3: Any, bucket: str) -> dict[str, int]:
    """Every key with a version or a delete marker left in the bucket, and how many."""
    left: dict[str, int] = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for entry in _entries(page):
            left[entry["Key"]] = left.get(entry["Key"], 0) + 1
    return left


class GoneWatch:
    """Lists the bucket's versions (list_object_versions) in a thread and notes, for each watched key, the
    last listing that still showed a version or delete marker of it (`present_at`: when that page was
    asked) and the first that showed none (`gone_at`: when that page was answered). The object went
    between the two: their gap is the resolution of what is measured from it.

    Keys must sort in the order of their deadlines (ties allowed; other orders stay correct but list
    more). A poll is one listing of the key range from the first key not yet seen gone to the last one
    falling due (deadline <= now + lookahead), under the watched keys' common prefix, in pages of at
    most `page_size` versions and no more than the keys due. So a poll costs what is due and not yet
    gone, however full the bucket, and a backlog costs a page per 1,000 objects, not a request per
    object: a watch that asked more of the store the further the service fell behind would make it fall
    further. No new versions may be uploaded while watching."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        deadlines: dict[str, float],
        period: float = 0.1,
        lookahead: float = 0.1,
        page_size: int = 1000,
    ) -> None:
        self._s3, self.bucket, self.period, self.lookahead = s3, bucket, period, lookahead
        self._page_size = page_size
        self.keys = sorted(deadlines)
        self.deadline = [deadlines[k] for k in self.keys]
        self._reach = list(_running_max(self.deadline))  # non-decreasing: bisect finds what is due
        self._prefix = os.path.commonprefix(self.keys)  # noqa: RUF071 - a key prefix, not a path
        self.present_at: list[float | None] = [None] * len(self.keys)
        self.gone_at: list[float | None] = [None] * len(self.keys)
        self.polls = 0
        self.pages = 0
        self.errors = 0
        self._first = 0  # every key before it has been seen gone
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"watch-{bucket}")

    def __enter__(self) -> GoneWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def all_gone(self) -> bool:
        return self._first >= len(self.keys)

    async def wait_all_gone(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.all_gone:
            if time.monotonic() > deadline:
                left = sum(1 for g in self.gone_at if g is None)
                raise TimeoutError(
                    f"{left} of {len(self.keys)} objects still in {self.bucket} after {timeout} s"
                )
            await asyncio.sleep(0.2)

    def lateness(self) -> list[float]:
        """Seconds from each key's deadline to the listing that first showed it gone (an upper bound)."""
        return [g - d for g, d in zip(self.gone_at, self.deadline, strict=True) if g is not None]

    def gaps(self) -> list[float]:
        """Per key seen both ways: from the last listing that showed it to the first that did not."""
        return [
            g - p
            for g, p in zip(self.gone_at, self.present_at, strict=True)
            if g is not None and p is not None
        ]

    def _run(self) -> None:
        while not self._stop.is_set() and not self.all_gone:
            began = time.monotonic()
            try:
                self._poll()
            except Exception:  # a failed listing teaches nothing; the next one may
                self.errors += 1
            self._stop.wait(max(0.0, self.period - (time.monotonic() - began)))

    def _poll(self) -> None:
        while self._first < len(self.keys) and self.gone_at[self._first] is not None:
            self._first += 1
        end = bisect.bisect_right(self._reach, time.time() + self.lookahead)
        if end <= self._first:
            return
        arguments: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self._prefix}
        if self._first > 0:
            arguments["KeyMarker"] = self.keys[self._first - 1]  # listing starts after it
        at = self._first  # keys before it were settled by an earlier page of this poll
        while at < end:
            # No more than the due keys left (a key may have several versions: then one more page).
            arguments["MaxKeys"] = max(1, min(self._page_size, end - at))
            asked = time.time()
            page = self._s3.list_object_versions(**arguments)
            answered = time.time()
            self.pages += 1
            present = {entry["Key"] for entry in _entries(page)}
            truncated = bool(page.get("IsTruncated"))
            # The page covers every key up to its last one listed; when it is the last page, all of them.
            covered = bisect.bisect_right(self.keys, page["NextKeyMarker"]) if truncated else len(self.keys)
            for i in range(at, min(covered, end)):
                if self.keys[i] in present:
                    self.present_at[i] = asked
                elif self.gone_at[i] is None:
                    self.gone_at[i] = answered
            at = covered
            if not truncated:
                break
            arguments["KeyMarker"] = page["NextKeyMarker"]
            arguments["VersionIdMarker"] = page.get("NextVersionIdMarker", "")
        self.polls += 1


def _running_max(values: list[float]) -> Iterable[float]:
    highest = -math.inf
    for value in values:
        highest = max(highest, value)
        yield highest


def first_seen_empty(
    s3: Any, bucket: str, keys: list[str], period: float, timeout: float
) -> tuple[float, int]:
    """time.time() of the first listing that showed no version or delete marker of any of `keys` (sorted),
    and the number of listings. Each asks for one entry, after the smallest key the last one showed
    (keys do not come back), so a poll stays cheap however full the bucket is."""
    started = time.monotonic()
    start = 0  # every key before it was seen gone
    polls = 0
    while True:
        arguments: dict[str, Any] = {"Bucket": bucket, "MaxKeys": 1}
        if start > 0:
            arguments["KeyMarker"] = keys[start - 1]
        began = time.monotonic()
        page = s3.list_object_versions(**arguments)
        answered = time.time()
        polls += 1
        entries = _entries(page)
        # Every key between the marker and the smallest entry listed is gone.
        start = bisect.bisect_left(keys, min(e["Key"] for e in entries)) if entries else len(keys)
        if start >= len(keys):
            return answered, polls
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"objects still in {bucket} after {timeout} s (from {keys[start]} on)")
        time.sleep(max(0.0, period - (time.monotonic() - began)))


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def binary_version(argv: list[str]) -> str:
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
            return (out.stdout or out.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "unknown"

    def git(*argv: str) -> str:
        try:
            out = subprocess.run(
                ["git", *argv],  # noqa: S607 - git from PATH, only to name the commit
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
                cwd=Path(__file__).parents[1],
            )
            return out.stdout.rstrip()  # porcelain lines begin with a status column, maybe a space
        except (OSError, subprocess.TimeoutExpired):
            return ""

    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average_at_start": list(os.getloadavg()),
        # The code the worker ran: the commit, and the service's files that differed from it.
        "commit": git("rev-parse", "--short", "HEAD") or "unknown",
        "uncommitted": [
            line[3:] for line in git("status", "--porcelain", "streams", "handlers").splitlines()
        ],
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "faust-streaming": version("faust-streaming"),
        "aiokafka": version("aiokafka"),
        "boto3": version("boto3"),
        "tansu": binary_version([tansu_binary(), "--version"]),
        "seaweedfs": binary_version([weed_binary(), "version"]),
    }
