"""What every scenario needs: the local stack, fresh topics, a worker process, fast producing, a tap on
the audit topic, and uploads."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import subprocess
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

from streams.local_stack import LocalStack, input_topics_of, isolated_topics, tansu_binary, weed_binary
from streams.worker_process import WorkerProcess


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

    def record(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        ratio = f"  ratio {figure.ratio:.2f}" if figure.ratio is not None else ""
        met = "" if figure.met is None else ("  goal met" if figure.met else "  GOAL MISSED")
        print(f"  {figure.name}: {figure.value:,.3f} {figure.unit}{ratio}{met}", flush=True)
        return figure

    async def topics(self, scenario: str, partitions: int = 4) -> dict[str, str]:
        """Fresh topics and a fresh app id, so scenarios never see each other's records."""
        prefix = f"bench-{scenario}-{uuid.uuid4().hex[:6]}"
        names = isolated_topics(prefix)
        await asyncio.to_thread(self.stack.create_topics, input_topics_of(names), partitions)
        return {**names, "APP_ID": prefix}

    async def worker(self, name: str, **settings: str) -> WorkerProcess:
        """A worker process, once it is ready; the waiting happens off the event loop."""
        options = {"LOG_LEVEL": "INFO", **settings}
        process = WorkerProcess(self.stack, self.root / f"{name}.log", **options).start()
        await asyncio.to_thread(process.wait_ready, 300)
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


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


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

    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "faust-streaming": version("faust-streaming"),
        "aiokafka": version("aiokafka"),
        "boto3": version("boto3"),
        "tansu": binary_version([tansu_binary(), "--version"]),
        "seaweedfs": binary_version([weed_binary(), "version"]),
    }
