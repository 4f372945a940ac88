"""What the end-to-end tests share: the worker's short schedule, and ways to act on and observe the world
(the bucket, the topics, the API, the clock) the way the alarm platform, the police liaison and an
auditor would. Test modules import from here, never from each other or from conftest."""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from streams.local.stack import ANCHOR_BUCKET, MEDIA_BUCKET, LocalStack
from streams.local.worker_process import CHAIN_KEYS, TOKENS, WorkerProcess
from tests.builders import alarm_json
from tests.kafka_helpers import produce, wait_for_records

# "7 days" is 12 seconds, "30 days" 40, the expiry warning 10 (see the `worker` fixture).
RETENTION_SECONDS = 12
HOLD_SECONDS = 40
WARNING_SECONDS = 10
SWEEP_GRACE_SECONDS = 2


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# -- the bucket ------------------------------------------------------------------------------------


def exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except s3.exceptions.ClientError:
        return False


def version_count(s3: Any, bucket: str, key: str) -> int:
    """Versions and delete markers of `key`: 0 means nothing of it is left."""
    listing = s3.list_object_versions(Bucket=bucket, Prefix=key)
    entries = listing.get("Versions", []) + listing.get("DeleteMarkers", [])
    return sum(1 for e in entries if e["Key"] == key)


def upload(s3: Any, bucket: str, alarm_id: str, count: int) -> list[tuple[str, str]]:
    objects = [(bucket, f"{alarm_id}/image-{i}.jpg") for i in range(count)]
    for b, key in objects:
        s3.put_object(Bucket=b, Key=key, Body=b"jpeg")
    return objects


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


# -- the topics ------------------------------------------------------------------------------------


async def send(stack: LocalStack, topic: str, key: str, value: bytes) -> None:
    await produce(stack.kafka_bootstrap, topic, [(key.encode(), value)])


async def trigger(
    stack: LocalStack, alarm_id: str, objects: list[tuple[str, str]], at: datetime, **extra: Any
) -> None:
    bucket = objects[0][0] if objects else MEDIA_BUCKET
    await send(
        stack,
        "alarm-events",
        alarm_id,
        alarm_json(alarm_id, [k for _, k in objects], bucket=bucket, at=at, **extra),
    )


async def audit_of(
    stack: LocalStack, alarm_id: str, kind: str, count: int = 1, timeout: float = 30
) -> list[dict[str, Any]]:
    return await wait_for_records(
        stack.kafka_bootstrap,
        "retention-audit",
        lambda r: r.get("alarm_id") == alarm_id and r["type"] == kind,
        count=count,
        timeout=timeout,
    )


def verify_audit(
    stack: LocalStack, topic: str = "retention-audit", checkpoints: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`retention audit verify --json` as an auditor runs it: with the chain keys the test workers seal
    with, and the anchor bucket they checkpoint into."""
    command = [sys.executable, "-m", "streams.cli", "--json", "audit", "verify", "--topic", topic]
    if checkpoints is not None:
        command += ["--checkpoints", checkpoints]
    environment = {
        **os.environ,
        **stack.worker_environment(),
        "AUDIT_CHAIN_KEYS": json.dumps(CHAIN_KEYS),
        "AUDIT_ANCHOR_BUCKET": ANCHOR_BUCKET,
    }
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, env=environment)


async def until(condition: Any, timeout: float, what: str) -> Any:
    """Poll `condition` (async) until it gives something true, and return that; fail after `timeout`."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + timeout
    while loop.time() < give_up:
        result = await condition()
        if result:
            return result
        await asyncio.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def drill_schedule(path: Path, seconds: dict[str, int]) -> Path:
    """The retention schedule with these rules' periods in seconds instead (a drill), written to `path`."""
    from config.schedule import DEFAULT_SCHEDULE

    text = DEFAULT_SCHEDULE.read_text()
    for rule, keep in seconds.items():
        head, _, rest = text.partition(f'id = "{rule}"')
        keep_line = next(line for line in rest.splitlines() if line.startswith("keep ="))
        text = head + f'id = "{rule}"' + rest.replace(keep_line, f"keep = {{ seconds = {keep} }}", 1)
    path.write_text(text)
    return path


# -- the clock -------------------------------------------------------------------------------------


async def sleep_until(moment: datetime) -> None:
    await asyncio.sleep(max(0.0, moment.timestamp() - time.time()))


# -- the API and the command line ------------------------------------------------------------------


def bearer(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


_client_addresses = (f"127.0.{n // 250}.{n % 250 + 2}" for n in itertools.count(os.getpid() % 4000 * 16))


def client_of_its_own(worker: WorkerProcess, **options: Any) -> httpx.AsyncClient:
    """An API client connecting from a loopback address no other client uses, so that what the worker
    counts per client (failed logins) starts from nothing, whatever ran before."""
    address = next(_client_addresses)
    assert ipaddress.ip_address(address).is_loopback
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(base_url=worker.url, transport=transport, **options)


def retention(worker: WorkerProcess, role: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The `retention` command line, as the operator runs it."""
    environment = {**os.environ, "RETENTION_API_URL": worker.url, "RETENTION_API_TOKEN": TOKENS[role]}
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


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
