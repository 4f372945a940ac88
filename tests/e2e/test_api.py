"""The HTTP API of a running worker: every endpoint, every authentication failure, over real Kafka."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from streams.api.models import Health
from streams.api.routes import ENDPOINTS
from streams.local.stack import MEDIA_BUCKET, LocalStack
from streams.local.worker_process import TOKENS, WorkerProcess
from tests.builders import alarm_json
from tests.e2e.helpers import bearer, client_of_its_own
from tests.kafka_helpers import produce, read_json, wait_for_records

pytestmark = pytest.mark.e2e


@pytest.fixture
async def api(worker: WorkerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=worker.url, timeout=30) as client:
        yield client


async def known_alarm(api: httpx.AsyncClient, stack: LocalStack, customer: str = "customer-api") -> str:
    """An alarm the worker knows, with the retention far enough away for the test."""
    alarm_id = f"api-{uuid.uuid4().hex[:8]}"
    value = alarm_json(alarm_id, [f"{alarm_id}/a.jpg"], bucket=MEDIA_BUCKET, customer_id=customer)
    await produce(stack.kafka_bootstrap, "alarm-events", [(alarm_id.encode(), value)])
    for _ in range(100):
        answer = await api.get(f"/api/v1/alarms/{alarm_id}", headers=bearer("operator"))
        if answer.status_code == 200:
            return alarm_id
        await asyncio.sleep(0.1)
    raise AssertionError("the alarm never appeared in the API")


class TestAuthentication:
    async def test_no_token_is_401_with_a_json_error(self, api: httpx.AsyncClient) -> None:
        answer = await api.get("/api/v1/summary")
        assert answer.status_code == 401
        assert answer.json()["error"] == "unauthorized"

    async def test_a_wrong_token_is_401(self, api: httpx.AsyncClient) -> None:
        answer = await api.get("/api/v1/summary", headers={"Authorization": "Bearer rt_guess"})
        assert answer.status_code == 401

    @pytest.mark.parametrize(
        "endpoint", [e for e in ENDPOINTS if e.roles is not None], ids=lambda e: f"{e.method} {e.path}"
    )
    async def test_every_role_outside_an_endpoints_roles_is_403(
        self, api: httpx.AsyncClient, endpoint: Any
    ) -> None:
        path = re.sub(r"\{[a-z_]+\}", "x", endpoint.path)  # any value: the role is refused first
        for token in TOKENS:
            role = token.split("@")[0]  # "police-liaison@other-unit": a liaison of another unit
            if role in endpoint.roles:
                continue
            answer = await api.request(endpoint.method, path, headers=bearer(token), json={})
            assert answer.status_code == 403, (token, answer.text)
            assert answer.json()["error"] == "forbidden"
            assert role in answer.json()["detail"]

    async def test_repeated_failures_from_one_client_are_slowed_down(self, worker: WorkerProcess) -> None:
        # A client address of its own: failures other tests' clients made do not count against it.
        async with client_of_its_own(worker, timeout=30) as client:
            timings = []
            for _ in range(9):
                started = time.monotonic()
                answer = await client.get("/api/v1/holds", headers={"Authorization": "Bearer rt_brute-force"})
                timings.append(time.monotonic() - started)
                assert answer.status_code == 401
        # The ninth failure within a minute is held back 0.25 s · 2³ = 2 s, the first five not at all.
        # A slow machine only adds time, so the ninth is compared with a lower bound, and the first
        # with the ninth rather than with a wall-clock limit.
        assert timings[-1] >= 2.0
        assert timings[-1] - max(timings[:5]) >= 1.5


class TestHolds:
    async def test_placing_and_releasing_a_hold_records_who_did_it(
        self, api: httpx.AsyncClient, media_stack: LocalStack
    ) -> None:
        alarm_id = await known_alarm(api, media_stack)
        placed = await api.post(
            "/api/v1/holds",
            headers=bearer("police-liaison"),
            json={"alarm_id": alarm_id, "case_reference": "2026-POL-42", "requested_by": "Inspector Berg"},
        )
        assert placed.status_code == 201, placed.text
        answer = placed.json()
        assert answer["status"] == "accepted"
        assert answer["kept_until"]
        hold_id = answer["hold_id"]

        events = [
            e for e in await read_json(media_stack.kafka_bootstrap, "police-holds") if e["hold_id"] == hold_id
        ]
        assert events[0]["placed_by"] == "test-police-liaison"
        assert events[0]["requested_by"] == "Inspector Berg"
        (accepted,) = await wait_for_records(
            media_stack.kafka_bootstrap,
            "retention-audit",
            lambda r: r.get("hold_id") == hold_id and r["type"] == "hold.accepted",
        )
        assert accepted["details"]["placed_by"] == "test-police-liaison"

        listed = (await api.get("/api/v1/holds", headers=bearer("police-liaison"))).json()["holds"]
        assert hold_id in {h["hold_id"] for h in listed}

        released = await api.post(f"/api/v1/holds/{hold_id}/release", headers=bearer("police-liaison"))
        assert released.status_code == 201, released.text
        assert released.json()["status"] == "released"
        (record,) = await wait_for_records(
            media_stack.kafka_bootstrap,
            "retention-audit",
            lambda r: r.get("hold_id") == hold_id and r["type"] == "hold.released",
        )
        assert record["details"]["released_by"] == "test-police-liaison"
        listed = (await api.get("/api/v1/holds", headers=bearer("operator"))).json()["holds"]
        assert hold_id not in {h["hold_id"] for h in listed}

    async def test_a_hold_for_an_alarm_not_seen_yet_waits(self, api: httpx.AsyncClient) -> None:
        answer = await api.post(
            "/api/v1/holds",
            headers=bearer("police-liaison"),
            json={"alarm_id": f"unseen-{uuid.uuid4().hex[:6]}", "case_reference": "c"},
        )
        assert answer.status_code == 201
        assert answer.json()["status"] == "waiting_for_alarm"

    async def test_an_invalid_body_is_422_naming_the_field(self, api: httpx.AsyncClient) -> None:
        answer = await api.post("/api/v1/holds", headers=bearer("police-liaison"), json={"alarm_id": "a b"})
        assert answer.status_code == 422
        assert "case_reference" in answer.json()["detail"]
        assert "alarm_id" in answer.json()["detail"]

    async def test_not_json_is_422(self, api: httpx.AsyncClient) -> None:
        answer = await api.post("/api/v1/holds", headers=bearer("police-liaison"), content=b"{nope")
        assert answer.status_code == 422

    async def test_releasing_an_unknown_hold_is_404(self, api: httpx.AsyncClient) -> None:
        answer = await api.post("/api/v1/holds/hold-nobody-knows/release", headers=bearer("police-liaison"))
        assert answer.status_code == 404
        assert answer.json()["error"] == "unknown_hold"


class TestReading:
    async def test_an_alarm_shows_its_media_deadlines_and_holds(
        self, api: httpx.AsyncClient, media_stack: LocalStack
    ) -> None:
        alarm_id = await known_alarm(api, media_stack)
        operator = (await api.get(f"/api/v1/alarms/{alarm_id}", headers=bearer("operator"))).json()
        assert operator["customer_id"] == "customer-api"
        (media,) = operator["media"]
        assert (media["status"], media["rule"]) == ("pending", "R1")
        assert media["deadline"]

    async def test_the_police_liaison_does_not_see_the_customer(
        self, api: httpx.AsyncClient, media_stack: LocalStack
    ) -> None:
        alarm_id = await known_alarm(api, media_stack)
        # Not one their unit holds: as if it did not exist.
        unheld = await api.get(f"/api/v1/alarms/{alarm_id}", headers=bearer("police-liaison"))
        assert unheld.status_code == 404
        placed = await api.post(
            "/api/v1/holds",
            json={"alarm_id": alarm_id, "case_reference": "c-1"},
            headers=bearer("police-liaison"),
        )
        assert placed.status_code == 201, placed.text
        liaison = (await api.get(f"/api/v1/alarms/{alarm_id}", headers=bearer("police-liaison"))).json()
        assert liaison["customer_id"] is None
        assert [m["key"] for m in liaison["media"]] == [None] * len(liaison["media"])
        assert "customer-api" not in json.dumps(liaison)

    async def test_the_audit_trail_of_an_alarm(self, api: httpx.AsyncClient, media_stack: LocalStack) -> None:
        alarm_id = await known_alarm(api, media_stack)
        for _ in range(50):
            trail = (await api.get(f"/api/v1/alarms/{alarm_id}/audit", headers=bearer("auditor"))).json()
            if trail["records"]:
                break
            await asyncio.sleep(0.1)
        assert trail["records"][0]["type"] == "media.deletion_scheduled"

    async def test_a_customers_media(self, api: httpx.AsyncClient, media_stack: LocalStack) -> None:
        customer = f"customer-{uuid.uuid4().hex[:6]}"
        alarm_id = await known_alarm(api, media_stack, customer=customer)
        answer = (await api.get(f"/api/v1/customers/{customer}/media", headers=bearer("operator"))).json()
        assert [a["alarm_id"] for a in answer["alarms"]] == [alarm_id]

    async def test_unknown_things_are_404(self, api: httpx.AsyncClient) -> None:
        for path in ("/api/v1/alarms/nope", "/api/v1/alarms/nope/audit", "/api/v1/customers/nope/media"):
            answer = await api.get(path, headers=bearer("operator"))
            assert answer.status_code == 404, path
            assert answer.json()["error"].startswith("unknown_")
        assert (await api.get("/no/such/page")).status_code == 404

    async def test_the_summary_and_dead_letters(
        self, api: httpx.AsyncClient, media_stack: LocalStack
    ) -> None:
        await produce(media_stack.kafka_bootstrap, "alarm-events", [(b"api-bad", b"{broken")])
        for _ in range(100):
            letters = (await api.get("/api/v1/deadletters", headers=bearer("operator"))).json()["deadletters"]
            if letters:
                break
            await asyncio.sleep(0.1)
        assert letters[0]["reason"].startswith("not valid JSON")
        summary = (await api.get("/api/v1/summary", headers=bearer("operator"))).json()
        assert summary["overdue"] == 0
        assert len(summary["due_per_hour"]) == 168
        assert summary["projection_caught_up"] is True


class TestPublicPages:
    async def test_health_metrics_and_the_contract_documents(self, api: httpx.AsyncClient) -> None:
        health = Health.model_validate((await api.get("/health")).json())  # the documented shape
        assert health.status == "ready"
        assert health.recovery == "complete"
        metrics = (await api.get("/metrics")).text
        for name in (
            "retention_events_consumed_total",
            "retention_deadlettered_total",
            "retention_media_pending",
            "retention_media_overdue",
            "retention_deletion_lateness_seconds_bucket",
            "retention_active_holds",
            "retention_holds_expiring_soon",
            "retention_s3_errors_total",
            "retention_s3_retries_total",
            "retention_consumer_lag",
        ):
            assert name in metrics, name
        assert (await api.get("/openapi.json")).json()["paths"]["/api/v1/holds"]
        assert (await api.get("/asyncapi.json")).json()["channels"]["alarmEvents"][
            "address"
        ] == "alarm-events"
        assert "<title>Alarm media retention</title>" in (await api.get("/")).text


class TestThePublicEndpoints:
    async def test_the_handover_key_needs_no_token(self, api: httpx.AsyncClient) -> None:
        answer = await api.get("/api/v1/handover/key")
        assert answer.status_code == 200
        assert answer.json()["algorithm"] == "Ed25519"
