"""A local stack with a cuttable line in front of the broker and in front of the store, and workers."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from chaos.check import Report, check
from chaos.load import LoadGenerator, Plan
from chaos.proxy import CuttableProxy
from streams import topic_ends
from streams.local_stack import INPUT_TOPICS, LocalStack, Ports, _free_port
from streams.worker_process import WorkerProcess

BUCKET = "chaos-media"
RETENTION = timedelta(seconds=15)
HOLD_LIMIT = timedelta(seconds=45)


class ChaosRig:
    def __init__(
        self, root: Path, retention: timedelta = RETENTION, hold_limit: timedelta = HOLD_LIMIT
    ) -> None:
        self.root = root
        self.retention, self.hold_limit = retention, hold_limit
        ports = Ports.free()
        self.broker_line = CuttableProxy(_free_port(), ports.kafka)
        self.store_line = CuttableProxy(_free_port(), ports.s3)
        self.stack = LocalStack(root / "stack", ports, advertised_kafka_port=self.broker_line.listen_port)
        self.workers: list[WorkerProcess] = []

    def start(self) -> None:
        self.broker_line.start()
        self.store_line.start()
        self.stack.start()
        self.stack.create_topics(INPUT_TOPICS, partitions=4)
        self.stack.create_bucket(BUCKET)

    def stop(self) -> None:
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
        ).start()
        self.workers.append(process)
        if wait:
            process.wait_ready(timeout=180)
        return process

    def load(self) -> LoadGenerator:
        plan = Plan(retention=self.retention, hold_limit=self.hold_limit)
        return LoadGenerator(self.stack.kafka_bootstrap, self.stack.s3_client(), BUCKET, plan)

    async def settle_and_check(self, scenario: str, plan: Plan, bound: timedelta) -> Report:
        """Wait until everything sent is due plus `bound`, then check."""
        last_due = max(a.triggered_at for a in plan.alarms.values()) + self.hold_limit
        await asyncio.sleep(max(0.0, (last_due + bound - datetime.now(UTC)).total_seconds()) + 2)
        audit = await read_topic(self.stack.kafka_bootstrap, "retention-audit")
        still_there = await asyncio.to_thread(self._keys_in_bucket)
        report = check(scenario, plan, audit, still_there, datetime.now(UTC), bound)
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

    def _keys_in_bucket(self) -> set[str]:
        s3 = self.stack.s3_client()
        keys: set[str] = set()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
            keys.update(item["Key"] for item in page.get("Contents", []))
        return keys


async def read_topic(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    records = await topic_ends.read_topic({"bootstrap_servers": bootstrap}, topic)
    return [json.loads(r.value) for r in records]


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds it took; fails after `timeout`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what} did not happen within {timeout} s")
        time.sleep(0.25)
    return time.monotonic() - started
