"""Least privilege and the access log on the real stack: a police liaison sees only their unit's holds
and never the customer's id or object keys; every read of personal data is recorded (who, what,
when, from where) before it is answered, on the access-log topic and in the archive for auditors.
And the worker's own log, fed events full of personal data, holds none of it."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from streams.local.stack import EVIDENCE_BUCKET, LocalStack
from streams.local.worker_process import PSEUDONYM_KEY, WorkerProcess
from streams.protection.pseudonyms import Pseudonyms
from tests.builders import alarm_json, contract_ended_json, hold_placed_json
from tests.e2e.helpers import audit_of, bearer, send, unique, upload
from tests.kafka_helpers import read_json

pytestmark = pytest.mark.e2e
UNIT_A, UNIT_B = "police-liaison", "police-liaison@other-unit"


async def held_by_unit_a(worker: WorkerProcess, stack: LocalStack, s3: Any) -> tuple[str, str, str]:
    """An alarm of a customer, held by a liaison of unit A: (alarm id, customer id, hold id)."""
    alarm_id, customer = unique("priv"), unique("customer")
    objects = upload(s3, EVIDENCE_BUCKET, f"{customer}/{alarm_id}", 1)
    await send(
        stack,
        "alarm-events",
        alarm_id,
        alarm_json(alarm_id, [k for _, k in objects], bucket=EVIDENCE_BUCKET, customer_id=customer),
    )
    await audit_of(stack, alarm_id, "media.deletion_scheduled")
    async with httpx.AsyncClient(base_url=worker.url, headers=bearer(UNIT_A), timeout=30) as api:
        placed = await api.post("/api/v1/holds", json={"alarm_id": alarm_id, "case_reference": "2026-A-17"})
    assert placed.status_code == 201, placed.text
    return alarm_id, customer, placed.json()["hold_id"]


class TestAPoliceLiaison:
    async def test_sees_their_units_holds_only_and_never_the_customer_or_object_keys(
        self, worker: WorkerProcess, media_stack: LocalStack, s3: Any
    ) -> None:
        alarm_id, _, hold_id = await held_by_unit_a(worker, media_stack, s3)
        async with httpx.AsyncClient(base_url=worker.url, timeout=30) as api:
            mine = await api.get(f"/api/v1/alarms/{alarm_id}", headers=bearer(UNIT_A))
            assert mine.status_code == 200, mine.text
            view = mine.json()
            assert [h["hold_id"] for h in view["holds"]] == [hold_id]
            assert view["holds"][0]["unit"] == "test-police"
            assert view["customer_id"] is None
            assert [m["key"] for m in view["media"]] == [None]
            listed = (await api.get("/api/v1/holds", headers=bearer(UNIT_A))).json()["holds"]
            assert hold_id in [h["hold_id"] for h in listed]

            # Unit B: as if the hold did not exist.
            theirs = await api.get(f"/api/v1/alarms/{alarm_id}", headers=bearer(UNIT_B))
            assert theirs.status_code == 404
            listed = (await api.get("/api/v1/holds", headers=bearer(UNIT_B))).json()["holds"]
            assert hold_id not in [h["hold_id"] for h in listed]
            release = await api.post(f"/api/v1/holds/{hold_id}/release", json={}, headers=bearer(UNIT_B))
            assert release.status_code == 404
            # ... and the hold still stands.
            still = (await api.get(f"/api/v1/alarms/{alarm_id}", headers=bearer("operator"))).json()
            assert [h["state"] for h in still["holds"]] == ["active"]


class TestTheAccessLog:
    async def test_records_every_read_of_personal_data_with_who_what_when_and_from_where(
        self, worker: WorkerProcess, media_stack: LocalStack, s3: Any
    ) -> None:
        alarm_id, customer, _ = await held_by_unit_a(worker, media_stack, s3)
        started = datetime.now(UTC)
        async with httpx.AsyncClient(base_url=worker.url, timeout=30) as api:
            assert (await api.get(f"/api/v1/alarms/{alarm_id}", headers=bearer(UNIT_B))).status_code == 404
            assert (
                await api.get(f"/api/v1/alarms/{alarm_id}", headers=bearer("operator"))
            ).status_code == 200
            # A query parameter named like the path's cannot make the log name another customer.
            media = await api.get(
                f"/api/v1/customers/{customer}/media",
                params={"customer_id": "decoy"},
                headers=bearer("operator"),
            )
            assert media.status_code == 200
            assert (await api.get("/api/v1/summary", headers=bearer("operator"))).status_code == 200

        entries = [e for e in await read_json(media_stack.kafka_bootstrap, "retention-access-log")
                   if datetime.fromisoformat(e["at"]) >= started]  # fmt: skip
        about_alarm = [e for e in entries if e["read"].get("alarm_id") == alarm_id]
        assert sorted((e["identity"], e["status"]) for e in about_alarm) == [
            ("test-operator", 200),
            (f"test-{UNIT_B}", 404),  # a probe of another unit's hold: recorded too
        ]
        for entry in about_alarm:
            assert entry["endpoint"] == "/api/v1/alarms/{alarm_id}"
            assert entry["client"] == "127.0.0.1"
        pseudonym = Pseudonyms(PSEUDONYM_KEY.encode()).customer(customer)
        (customer_read,) = [e for e in entries if e["endpoint"] == "/api/v1/customers/{customer_id}/media"
                            and e["read"].get("customer_id") == pseudonym]  # fmt: skip
        assert customer_read["identity"] == "test-operator"
        assert customer_read["query"] == {"customer_id": Pseudonyms(PSEUDONYM_KEY.encode()).customer("decoy")}
        assert customer not in json.dumps(entries)  # the customer's id is not in the access log
        assert not [e for e in entries if e["endpoint"] == "/api/v1/summary"]  # figures: nobody's data

        # The auditor finds who read the customer's data, by the customer's id, in the archive.
        async with httpx.AsyncClient(base_url=worker.url, headers=bearer("auditor"), timeout=30) as api:
            deadline = time.monotonic() + 30
            while True:
                answer = await api.get("/api/v1/access-log", params={"customer_id": customer})
                assert answer.status_code == 200, answer.text
                if answer.json()["entries"]:
                    break
                assert time.monotonic() < deadline, "the access log never reached the archive"
                await asyncio.sleep(0.5)
        # (The auditor's own reads of the access log, about this customer, are in it too.)
        found = [e for e in answer.json()["entries"] if e["identity"] == "test-operator"]
        assert [e["endpoint"] for e in found] == ["/api/v1/customers/{customer_id}/media"]


class TestTheWorkersLog:
    async def test_holds_no_personal_data_from_events_full_of_it(
        self, worker: WorkerProcess, media_stack: LocalStack, s3: Any
    ) -> None:
        marker = uuid.uuid4().hex[:6]
        customer = f"KariNordmann-0101701234{marker}"  # a name and a national id number as customer id
        key = f"Kari-Nordmann-{marker}/Storgata-1/stue.jpg"
        case, officer = f"Sak mot Ola Hansen {marker}", f"Politibetjent Per Olsen {marker}"
        alarm_id = unique("hostile")
        s3.put_object(Bucket=EVIDENCE_BUCKET, Key=key, Body=b"jpeg")
        broken = b'{"type": "alarm.triggered", "customer_id": "' + customer.encode() + b'", "note": "cut'
        events = [
            ("alarm-events", alarm_id,
             alarm_json(alarm_id, [key], bucket=EVIDENCE_BUCKET, customer_id=customer)),
            ("police-holds", alarm_id,
             hold_placed_json(alarm_id, unique("hold"), case_reference=case, placed_by=officer)),
            ("alarm-events", alarm_id, broken),  # not JSON: dead-lettered
            ("alarm-events", alarm_id, alarm_json(alarm_id, [key], bucket="not-ours", customer_id=customer)),
            ("contract-events", customer, contract_ended_json(customer)),
        ]  # fmt: skip
        for topic, message_key, value in events:
            await send(media_stack, topic, message_key, value)
        await audit_of(media_stack, alarm_id, "hold.accepted")
        await audit_of(media_stack, alarm_id, "alarm.contract_ended")
        async with httpx.AsyncClient(base_url=worker.url, headers=bearer("operator"), timeout=30) as api:
            assert (await api.get(f"/api/v1/customers/{customer}/media")).status_code == 200
            health = await api.get("/health")
        await asyncio.sleep(1)  # the last lines written

        log = worker.log_path.read_text() + health.text
        for personal in (customer, "0101701234" + marker, "Kari-Nordmann-" + marker, case, officer):
            assert personal not in log, f"{personal!r} is in the worker's log"
        assert marker in json.dumps([alarm_id, key])  # (the strings were really used)
