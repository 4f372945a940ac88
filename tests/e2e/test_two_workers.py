"""Two workers sharing four partitions reach the same state as one, and survive losing either."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from streams.kafka.partitioning import partition_for
from streams.local.side_process import ApiProcess, ProjectorProcess
from streams.local.stack import MEDIA_BUCKET, LocalStack, input_topics_of, isolated_topics
from streams.local.worker_process import TOKENS, WorkerProcess
from tests.builders import alarm_json, contract_ended_json, hold_placed_json, hold_released_json
from tests.e2e.helpers import exists, sleep_until, wait_for_split, wait_until_gone
from tests.kafka_helpers import produce, read_json, wait_for_records

pytestmark = pytest.mark.e2e
PARTITIONS = 4
RETENTION = 30


def wait_for_owner_of_everything(worker: WorkerProcess, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        health = worker.health() or {}
        if health.get("status") == "ready" and health.get("partitions") == list(range(PARTITIONS)):
            return
        time.sleep(0.5)
    raise TimeoutError(f"the survivor did not take over: {worker.health()}")


def assert_same_answers(servers: list[WorkerProcess | ApiProcess], paths: list[str]) -> None:
    headers = {"Authorization": f"Bearer {TOKENS['auditor' if '/archive/' in paths[0] else 'operator']}"}
    deadline = time.monotonic() + 10  # the archive may be a moment behind the stream
    while True:
        answers = [
            [_timeless(httpx.get(w.url + p, headers=headers, timeout=10).json()) for p in paths]
            for w in servers
        ]
        if all(a == answers[0] for a in answers) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    differing = [(path, a, b) for path, a, b in zip(paths, answers[0], answers[1], strict=True) if a != b]
    assert differing == []
    assert all("error" not in answer for answer in answers[0])


def _timeless(answer: Any) -> Any:
    """Without the countdowns, which depend on the moment of asking."""
    moments = ("seconds_left", "expiring_soon", "now", "archive_measured_at", "archive_lag_records")
    if isinstance(answer, dict):
        return {k: _timeless(v) for k, v in answer.items() if k not in moments}
    if isinstance(answer, list):
        return [_timeless(v) for v in answer]
    return answer


def spread(prefix: str, count: int) -> list[str]:
    """Alarm ids that cover every partition."""
    ids: list[str] = []
    per_partition: Counter[int] = Counter()
    while len(ids) < count:
        candidate = f"{prefix}-{uuid.uuid4().hex[:6]}"
        partition = partition_for(candidate, PARTITIONS)
        if per_partition[partition] < count // PARTITIONS:
            per_partition[partition] += 1
            ids.append(candidate)
    return ids


def test_two_workers_share_the_partitions_and_survive_losing_one(
    stack: LocalStack, database_url: str, artifacts: Path
) -> None:
    """With the archive: the workers and two API processes of their own answer every endpoint alike."""
    prefix = f"pair-{uuid.uuid4().hex[:6]}"
    topics = isolated_topics(prefix)
    stack.create_topics(input_topics_of(topics), PARTITIONS)
    stack.create_bucket(MEDIA_BUCKET)
    settings = {
        **topics,
        "APP_ID": prefix,
        "PARTITIONS": str(PARTITIONS),
        "MEDIA_RETENTION": f"PT{RETENTION}S",
        "HOLD_RETENTION": "PT300S",
        "DATABASE_URL": database_url,
    }
    s3: Any = stack.s3_client()
    bootstrap = stack.kafka_bootstrap

    first = WorkerProcess(stack, artifacts / f"{prefix}-a.log", **settings).start()
    second = WorkerProcess(stack, artifacts / f"{prefix}-b.log", **settings).start()
    replacement = WorkerProcess(stack, artifacts / f"{prefix}-a2.log", **settings)
    projector = ProjectorProcess(first, artifacts / f"{prefix}-projector.log").start()
    apis = [ApiProcess(first, artifacts / f"{prefix}-api-{n}.log").start() for n in (1, 2)]
    try:
        wait_for_split([first, second], PARTITIONS)
        projector.wait_ready()
        for api in apis:
            api.wait_ready()

        alarms = spread(prefix, 12)
        held = alarms[:4]  # one per partition
        ending_customer = f"{prefix}-leaving"
        leaving = alarms[4:6]
        objects = {a: (MEDIA_BUCKET, f"{a}/image.jpg") for a in alarms}
        for bucket, key in objects.values():
            s3.put_object(Bucket=bucket, Key=key, Body=b"jpeg")
        triggered_at = datetime.now(UTC)

        async def send_everything() -> None:
            await produce(
                bootstrap,
                topics["TOPICS__ALARM_EVENTS"],
                [
                    (
                        a.encode(),
                        alarm_json(
                            a,
                            [objects[a][1]],
                            bucket=MEDIA_BUCKET,
                            at=triggered_at,
                            customer_id=ending_customer if a in leaving else f"{prefix}-stays",
                        ),
                    )
                    for a in alarms
                ],
            )
            await wait_for_records(
                bootstrap,
                topics["TOPICS__AUDIT"],
                lambda r: r["type"] == "media.deletion_scheduled",
                len(alarms),
            )
            await produce(
                bootstrap,
                topics["TOPICS__POLICE_HOLDS"],
                [(a.encode(), hold_placed_json(a, f"hold-{a}")) for a in held],
            )
            await produce(
                bootstrap,
                topics["TOPICS__CONTRACT_EVENTS"],
                [(ending_customer.encode(), contract_ended_json(ending_customer))],
            )
            await wait_for_records(
                bootstrap, topics["TOPICS__AUDIT"], lambda r: r["type"] == "hold.accepted", 4
            )

        asyncio.run(send_everything())
        asyncio.run(wait_until_gone(s3, [objects[a] for a in leaving], timeout=10))

        # Lose one worker for good: the other takes over its partitions and deadlines.
        first.kill()
        wait_for_owner_of_everything(second)
        deadline = triggered_at + timedelta(seconds=RETENTION)
        assert datetime.now(UTC) < deadline - timedelta(seconds=2), (
            "take-over took too long to test the deadline"
        )
        asyncio.run(sleep_until(deadline - timedelta(seconds=1)))
        normal = [a for a in alarms if a not in held and a not in leaving]
        assert all(exists(s3, *objects[a]) for a in normal + held), "deleted before the deadline"
        asyncio.run(wait_until_gone(s3, [objects[a] for a in normal], timeout=10))
        assert all(exists(s3, *objects[a]) for a in held), "held media deleted at the normal deadline"

        # A replacement joins; the held media stays held, and goes when released.
        replacement.start()
        wait_for_split([second, replacement], PARTITIONS)
        assert all(exists(s3, *objects[a]) for a in held)
        # Whichever worker or API process is asked, the answer is the same: every endpoint that reads.
        servers = [second, replacement, *apis]
        assert_same_answers(
            servers,
            [f"/api/v1/alarms/{a}" for a in alarms]
            + [f"/api/v1/alarms/{a}/audit" for a in alarms]
            + [
                "/api/v1/holds",
                "/api/v1/summary",
                f"/api/v1/customers/{prefix}-stays/media",
                f"/api/v1/customers/{ending_customer}/erasures",
                "/api/v1/erasures/unconfirmed",
                "/api/v1/deadletters",
            ],
        )
        assert_same_answers(
            servers,
            [
                f"/api/v1/archive/customers/{ending_customer}/deletions",
                f"/api/v1/archive/customers/{ending_customer}/audit",
                f"/api/v1/archive/alarms/{held[0]}/audit",
                "/api/v1/archive/cases/2026-POL-0001/holds",
            ],
        )
        # The leaving customer's media went, and with it the records that named them: no server holds any.
        for server in servers:
            gone = httpx.get(
                f"{server.url}/api/v1/customers/{ending_customer}/media",
                headers={"Authorization": f"Bearer {TOKENS['operator']}"},
                timeout=10,
            )
            assert gone.status_code == 404
            assert gone.json()["error"] == "unknown_customer"
        # A hold placed through an API process is the stream's to answer, and every server then knows it.
        placed = httpx.post(
            apis[0].url + "/api/v1/holds",
            headers={"Authorization": f"Bearer {TOKENS['police-liaison']}"},
            json={"alarm_id": held[0], "case_reference": f"{prefix}-case"},
            timeout=30,
        )
        assert placed.status_code == 201, placed.text
        assert placed.json()["status"] == "accepted"
        assert_same_answers(servers, [f"/api/v1/alarms/{held[0]}"])
        released = httpx.post(
            apis[1].url + f"/api/v1/holds/{placed.json()['hold_id']}/release",
            headers={"Authorization": f"Bearer {TOKENS['police-liaison']}"},
            timeout=30,
        )
        assert released.status_code == 201, released.text
        assert released.json()["status"] == "released"
        asyncio.run(
            produce(
                bootstrap,
                topics["TOPICS__POLICE_HOLDS"],
                [(a.encode(), hold_released_json(a, f"hold-{a}")) for a in held],
            )
        )
        asyncio.run(wait_until_gone(s3, [objects[a] for a in held], timeout=15))

        # Duplicates (the same audit_id twice) are allowed by at-least-once; a missing record is not.
        give_up = time.monotonic() + 30
        while True:
            audit = asyncio.run(read_json(bootstrap, topics["TOPICS__AUDIT"]))
            deletions = Counter(r.get("alarm_id") for r in audit if r["type"] == "media.deleted")
            if set(deletions) == set(alarms) or time.monotonic() > give_up:
                break
            time.sleep(0.5)
        assert set(deletions) == set(alarms)
        deleted_ids = {r["audit_id"] for r in audit if r["type"] == "media.deleted"}
        assert len(deleted_ids) == len(alarms), "an object's deletion was recorded more than once"
        assert asyncio.run(read_json(bootstrap, topics["TOPICS__DEADLETTER"])) == []
    finally:
        for process in (first, second, replacement, projector, *apis):
            process.kill()
