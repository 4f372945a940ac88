from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from streams.local_stack import EVIDENCE_BUCKET, INPUT_TOPICS, MEDIA_BUCKET, LocalStack
from streams.worker_process import WorkerProcess

RETENTION_SECONDS = 12
HOLD_SECONDS = 40
WARNING_SECONDS = 10
SWEEP_GRACE_SECONDS = 2


@pytest.fixture(scope="session")
def media_stack(stack: LocalStack) -> LocalStack:
    stack.create_topics(INPUT_TOPICS, partitions=4)
    stack.create_bucket(MEDIA_BUCKET)
    stack.create_bucket(EVIDENCE_BUCKET, object_lock=True)
    return stack


@pytest.fixture(scope="session")
def worker(media_stack: LocalStack, artifacts: Path) -> Iterator[WorkerProcess]:
    """One worker for the end-to-end tests, with a retention short enough to watch."""
    process = WorkerProcess(
        media_stack,
        artifacts / "e2e-worker.log",
        MEDIA_RETENTION=f"PT{RETENTION_SECONDS}S",
        HOLD_RETENTION=f"PT{HOLD_SECONDS}S",
        HOLD_EXPIRY_WARNING=f"PT{WARNING_SECONDS}S",
        APP_ID="e2e-retention",
        # Sweeps only on demand (tests/e2e/test_sweep.py), so that no test's objects vanish mid-test.
        SWEEP_INTERVAL="PT0S",
        SWEEP_GRACE=f"PT{SWEEP_GRACE_SECONDS}S",
    ).start()
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


@pytest.fixture
def s3(media_stack: LocalStack) -> Any:
    return media_stack.s3_client()


def exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except s3.exceptions.ClientError:
        return False


def version_count(s3: Any, bucket: str, key: str) -> int:
    listing = s3.list_object_versions(Bucket=bucket, Prefix=key)
    entries = listing.get("Versions", []) + listing.get("DeleteMarkers", [])
    return sum(1 for e in entries if e["Key"] == key)


async def sleep_until(moment: datetime) -> None:
    await asyncio.sleep(max(0.0, moment.timestamp() - time.time()))


async def wait_until_gone(s3: Any, objects: list[tuple[str, str]], timeout: float) -> float:
    """Seconds until no object is left; fails after `timeout`."""
    started = time.monotonic()
    while any(exists(s3, bucket, key) for bucket, key in objects):
        if time.monotonic() - started > timeout:
            left = [o for o in objects if exists(s3, *o)]
            raise AssertionError(f"still there after {timeout} s: {left}")
        await asyncio.sleep(0.1)
    return time.monotonic() - started


def legal_hold_status(s3: Any, bucket: str, key: str) -> list[str]:
    """The legal-hold status of every version of `key`."""
    listing = s3.list_object_versions(Bucket=bucket, Prefix=key)
    statuses = []
    for version in listing.get("Versions", []):
        if version["Key"] != key:
            continue
        try:
            answer = s3.get_object_legal_hold(Bucket=bucket, Key=key, VersionId=version["VersionId"])
            statuses.append(answer["LegalHold"]["Status"])
        except s3.exceptions.ClientError:
            statuses.append("OFF")
    return statuses


def wait_for_split(workers: list[WorkerProcess], partitions: int, timeout: float = 120) -> None:
    """Until every worker is ready and owns some of the `partitions`, and together they own them all."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        health = [w.health() or {} for w in workers]
        owned = [set(h.get("partitions", [])) for h in health]
        if (
            all(h.get("status") == "ready" for h in health)
            and all(owned)
            and set().union(*owned) == set(range(partitions))
            and sum(len(o) for o in owned) == partitions
        ):
            return
        time.sleep(0.5)
    raise TimeoutError(f"partitions not split: {[w.health() for w in workers]}")
