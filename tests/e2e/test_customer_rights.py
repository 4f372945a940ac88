"""The customer's rights on the real stack: access, erasure except what the police hold, and
restriction, through the API and by event, each answered on customer-request-outcomes."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from streams.local.stack import EVIDENCE_BUCKET, MEDIA_BUCKET, LocalStack
from streams.local.worker_process import TOKENS, WorkerProcess
from tests.builders import hold_placed_json
from tests.e2e.helpers import audit_of, exists, send, trigger, unique, upload, wait_until_gone
from tests.kafka_helpers import wait_for_records

pytestmark = pytest.mark.e2e


def operator() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS['operator']}"}


class TestCustomerRights:
    async def test_access_then_erasure_keeps_only_what_the_police_hold(
        self, worker: WorkerProcess, media_stack: LocalStack, s3: Any
    ) -> None:
        customer = unique("customer")
        plain_alarm, held_alarm = unique("rights"), unique("rights-held")
        plain = upload(s3, MEDIA_BUCKET, plain_alarm, 2)
        held = upload(s3, EVIDENCE_BUCKET, held_alarm, 1)
        now = datetime.now(UTC)
        await trigger(media_stack, plain_alarm, plain, now, customer_id=customer)
        await trigger(media_stack, held_alarm, held, now, customer_id=customer)
        await send(media_stack, "police-holds", held_alarm, hold_placed_json(held_alarm, unique("hold")))
        await audit_of(media_stack, held_alarm, "hold.accepted")
        await audit_of(media_stack, plain_alarm, "media.deletion_scheduled")

        async with httpx.AsyncClient(base_url=worker.url, headers=operator(), timeout=30) as api:
            access = await api.post(f"/api/v1/customers/{customer}/requests", json={"kind": "access"})
            assert access.status_code == 201, access.text
            report = access.json()["answer"]
            assert sorted(m["key"] for m in report["media"]) == sorted(k for _, k in plain + held)
            [held_item] = [m for m in report["media"] if m["kept_for_police"]]
            assert held_item["alarm_id"] == held_alarm
            assert held_item["kept_until"] is not None

            erasure = await api.post(f"/api/v1/customers/{customer}/requests", json={"kind": "erasure"})
            assert erasure.status_code == 201, erasure.text
            answer = erasure.json()["answer"]
            assert sorted(m["key"] for m in answer["media"]) == sorted(k for _, k in plain)
            assert [m["key"] for m in answer["kept"]] == [k for _, k in held]
            assert "police investigation" in answer["kept_because"]

            # Long before the 12 s retention: the erasure request, not R1, deletes them.
            await wait_until_gone(s3, plain, timeout=8)
            assert exists(s3, *held[0])
            deleted = await audit_of(media_stack, plain_alarm, "media.deleted")
            assert {r["rule"] for r in deleted} == {"Art17"}
            kept = await audit_of(media_stack, held_alarm, "alarm.erasure_requested")
            assert kept[0]["details"]["kept_for_holds"]

            again = await api.get(f"/api/v1/requests/{answer['request_id']}")
            assert again.status_code == 200
            assert again.json()["kind"] == "erasure"

    async def test_a_restriction_by_event_is_answered_by_event_and_marks_the_media(
        self, worker: WorkerProcess, media_stack: LocalStack, s3: Any
    ) -> None:
        customer, alarm_id = unique("customer"), unique("restricted")
        objects = upload(s3, MEDIA_BUCKET, alarm_id, 1)
        await trigger(media_stack, alarm_id, objects, datetime.now(UTC), customer_id=customer)
        await audit_of(media_stack, alarm_id, "media.deletion_scheduled")
        request_id = str(uuid.uuid4())
        request = {
            "type": "restriction.requested", "event_id": unique("evt"), "customer_id": customer,
            "request_id": request_id, "requested_at": datetime.now(UTC).isoformat(),
            "requested_by": "customer-service@example",
        }  # fmt: skip
        await send(media_stack, "customer-requests", customer, json.dumps(request).encode())
        [answered] = await wait_for_records(
            media_stack.kafka_bootstrap,
            "customer-request-outcomes",
            lambda r: r.get("request_id") == request_id,
        )
        assert answered["type"] == "request.answered"
        assert answered["kind"] == "restriction"
        assert [m["key"] for m in answered["media"]] == [objects[0][1]]
        await audit_of(media_stack, alarm_id, "alarm.restricted")
        async with httpx.AsyncClient(base_url=worker.url, headers=operator(), timeout=30) as api:
            view = (await api.get(f"/api/v1/alarms/{alarm_id}")).json()
            assert view["restricted"] is True

    async def test_a_request_that_breaks_the_contract_is_dead_lettered_with_its_reason(
        self, media_stack: LocalStack, worker: WorkerProcess
    ) -> None:
        customer = unique("customer")
        bad = {"type": "erasure.requested", "event_id": unique("evt"), "customer_id": customer}
        await send(media_stack, "customer-requests", customer, json.dumps(bad).encode())
        [letter] = await wait_for_records(
            media_stack.kafka_bootstrap,
            "retention-deadletter",
            lambda r: r["source"]["topic"] == "customer-requests" and "request_id" in r["reason"],
        )
        assert "schema violation" in letter["reason"]
