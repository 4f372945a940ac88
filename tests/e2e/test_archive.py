"""The archive end to end: the worker decides, the projector copies into PostgreSQL, and the API
answers the DPO's questions from there. Judged against the world: media the archive calls deleted is
gone from the bucket, every audit record on the topic about the test's alarms is in the archive once,
also when the projector is killed right after a burst."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from streams.local.side_process import ProjectorProcess
from streams.local.stack import MEDIA_BUCKET, LocalStack
from streams.local.worker_process import WorkerProcess
from tests.e2e.helpers import (
    RETENTION_SECONDS,
    audit_of,
    bearer,
    client_of_its_own,
    trigger,
    unique,
    upload,
    version_count,
    wait_until_gone,
)
from tests.kafka_helpers import read_json

pytestmark = pytest.mark.e2e


@pytest.fixture
async def api(worker: WorkerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of_its_own(worker, timeout=10) as client:
        yield client


async def _until(
    read: Callable[[], Awaitable[Any]], done: Callable[[Any], bool], what: str, timeout: float = 60
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        answer = await read()
        if done(answer):
            return answer
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s (last answer {answer})"
        await asyncio.sleep(0.5)


async def _all_pages(api: httpx.AsyncClient, path: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}  # small pages: the cursor is used
        answer = await api.get(path, params=params, headers=bearer("auditor"))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        records.extend(body["records"])
        cursor = body["next_cursor"]
        if cursor is None:
            return records


async def test_deletions_and_holds_of_a_case_as_the_archive_tells_them(
    worker: WorkerProcess,
    projector: ProjectorProcess,
    media_stack: LocalStack,
    s3: Any,
    api: httpx.AsyncClient,
) -> None:
    customer, case = unique("customer"), unique("case")
    deleted_alarm, held_alarm = unique("archived"), unique("held")
    objects = upload(s3, MEDIA_BUCKET, deleted_alarm, 3)
    held_objects = upload(s3, MEDIA_BUCKET, held_alarm, 1)
    now = datetime.now(UTC)
    await trigger(media_stack, deleted_alarm, objects, now, customer_id=customer)
    await trigger(media_stack, held_alarm, held_objects, now, customer_id=customer)
    await audit_of(media_stack, held_alarm, "media.deletion_scheduled")

    placed = await api.post(
        "/api/v1/holds",
        headers=bearer("police-liaison"),
        json={"alarm_id": held_alarm, "case_reference": case},
    )
    assert placed.status_code == 201, placed.text
    assert placed.json()["status"] == "accepted"
    hold_id = placed.json()["hold_id"]
    released = await api.post(f"/api/v1/holds/{hold_id}/release", headers=bearer("police-liaison"))
    assert released.status_code == 201, released.text

    await wait_until_gone(s3, objects + held_objects, timeout=RETENTION_SECONDS + 30)
    deletions_path = f"/api/v1/archive/customers/{customer}/deletions"
    deletions = await _until(
        lambda: _all_pages(api, deletions_path),
        lambda found: {r["alarm_id"] for r in found} == {deleted_alarm, held_alarm},
        "both alarms' deletions in the archive",
    )
    archived = sorted((o["bucket"], o["key"]) for r in deletions for o in r["objects"])
    assert archived == sorted(objects + held_objects)
    assert all(version_count(s3, *o) == 0 for o in archived), "the archive says deleted, the bucket disagrees"

    case_path = f"/api/v1/archive/cases/{case}/holds"
    answer = await _until(
        lambda: api.get(case_path, headers=bearer("auditor")),
        lambda a: a.status_code == 200 and a.json()["holds"] and a.json()["holds"][0]["ended_by"],
        "the case's hold and its end in the archive",
    )
    (hold,) = answer.json()["holds"]
    assert (hold["hold_id"], hold["alarm_id"], hold["ended_by"]) == (hold_id, held_alarm, "hold.released")
    assert hold["placed_at"] <= hold["ended_at"]

    # The archive's trail of an alarm is the topic's, each record once.
    on_topic = {
        r["audit_id"]
        for r in await read_json(media_stack.kafka_bootstrap, "retention-audit")
        if r.get("alarm_id") == held_alarm
    }
    trail = await _all_pages(api, f"/api/v1/archive/alarms/{held_alarm}/audit")
    assert sorted(r["audit_id"] for r in trail) == sorted(on_topic)


async def test_a_projector_killed_right_after_a_burst_archives_each_record_once(
    worker: WorkerProcess,
    projector: ProjectorProcess,
    media_stack: LocalStack,
    s3: Any,
    api: httpx.AsyncClient,
) -> None:
    customer = unique("burst")
    alarms = [unique("burst-alarm") for _ in range(30)]
    now = datetime.now(UTC)
    for alarm_id in alarms:
        await trigger(media_stack, alarm_id, upload(s3, MEDIA_BUCKET, alarm_id, 1), now, customer_id=customer)
    await audit_of(media_stack, alarms[-1], "media.deletion_scheduled")
    projector.kill()
    projector.start()
    projector.wait_ready()

    def scheduled(records: list[dict[str, Any]]) -> set[str]:
        return {r["alarm_id"] for r in records if r["type"] == "media.deletion_scheduled"}

    trail = await _until(
        lambda: _all_pages(api, f"/api/v1/archive/customers/{customer}/audit"),
        lambda found: scheduled(found) == set(alarms),
        "every alarm of the burst in the archive",
    )
    # What the topic has about the burst's alarms, the archive has, each record once (ids are its key).
    archived = {r["audit_id"] for r in trail if r["type"] == "media.deletion_scheduled"}
    on_topic = {
        r["audit_id"]
        for r in await read_json(media_stack.kafka_bootstrap, "retention-audit")
        if r.get("customer_id") == customer and r["type"] == "media.deletion_scheduled"
    }
    assert archived == on_topic
