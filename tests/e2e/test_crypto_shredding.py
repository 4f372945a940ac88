"""A customer's whole life on the real stack, and what the audit trail keeps of them afterwards.

Alarms with media, a police hold, the contract's end, then R6 (customer identifiers: 12 months after the
end; a drill schedule makes it 5 seconds). From then on the customer's id and object keys in the audit
trail cannot be read by anyone (their key is destroyed), the records themselves and their hash chain
stay whole, the hold's case reference and officer stay readable (their own row, S5), and the
customer's access answer says what was erased and when.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from handlers.personal_fields import ERASED
from streams.local.stack import EVIDENCE_BUCKET, MEDIA_BUCKET, LocalStack, input_topics_of, isolated_topics
from streams.local.worker_process import TOKENS, WorkerProcess
from tests.builders import alarm_json, contract_ended_json, hold_placed_json
from tests.e2e.helpers import drill_schedule, unique, until, upload, verify_audit
from tests.kafka_helpers import produce, read_all, read_json, subject_keys

pytestmark = pytest.mark.e2e

R6_SECONDS = 5
CASE, OFFICER = "2026-POL-0001", "liaison@police.example"  # as tests/builders.py writes holds


@pytest.fixture(scope="module")
def life(
    media_stack: LocalStack, artifacts: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    prefix = f"shred-{uuid.uuid4().hex[:6]}"
    topics = isolated_topics(prefix)
    media_stack.create_topics(input_topics_of(topics), 4)
    worker = WorkerProcess(
        media_stack,
        artifacts / f"{prefix}.log",
        APP_ID=prefix,
        RETENTION_SCHEDULE_FILE=str(
            drill_schedule(tmp_path_factory.mktemp("shred") / "schedule.toml", {"R6": R6_SECONDS})
        ),
        SWEEP_INTERVAL="PT0S",
        **topics,
    ).start()
    try:
        worker.wait_ready()
        yield {"worker": worker, "topics": topics, "bootstrap": media_stack.kafka_bootstrap}
    finally:
        worker.stop()


async def trail_of(life: dict[str, Any], alarm_ids: list[str]) -> list[dict[str, Any]]:
    """The alarms' audit records as a reader with every live key sees them."""
    records = await read_json(life["bootstrap"], life["topics"]["TOPICS__AUDIT"])
    return [r for r in records if r.get("alarm_id") in alarm_ids]


def verify(life: dict[str, Any], stack: LocalStack) -> dict[str, Any]:
    topics = life["topics"]
    done = verify_audit(stack, topics["TOPICS__AUDIT"], topics["TOPICS__AUDIT_CHECKPOINTS"])
    assert done.returncode == 0, done.stdout + done.stderr
    verdict: dict[str, Any] = json.loads(done.stdout)
    return verdict


class TestACustomersWholeLife:
    async def test_after_r6_their_identifiers_in_the_audit_trail_are_gone_and_the_trail_still_verifies(
        self, life: dict[str, Any], media_stack: LocalStack
    ) -> None:
        s3 = media_stack.s3_client()
        topics, bootstrap = life["topics"], life["bootstrap"]
        customer = unique("customer-Kari-Nordmann")
        plain_alarm, held_alarm, hold_id = unique("life"), unique("life-held"), unique("hold")
        plain = upload(s3, MEDIA_BUCKET, f"{customer}/{plain_alarm}", 2)
        held = upload(s3, EVIDENCE_BUCKET, f"{customer}/{held_alarm}", 1)
        now = datetime.now(UTC)
        alarms = [plain_alarm, held_alarm]
        events = [
            alarm_json(plain_alarm, [k for _, k in plain], bucket=MEDIA_BUCKET, at=now, customer_id=customer),
            alarm_json(
                held_alarm, [k for _, k in held], bucket=EVIDENCE_BUCKET, at=now, customer_id=customer
            ),
        ]
        await produce(
            bootstrap,
            topics["TOPICS__ALARM_EVENTS"],
            list(zip([a.encode() for a in alarms], events, strict=True)),
        )
        await produce(
            bootstrap,
            topics["TOPICS__POLICE_HOLDS"],
            [(held_alarm.encode(), hold_placed_json(held_alarm, hold_id))],
        )

        async def accepted() -> list[dict[str, Any]]:
            return [r for r in await trail_of(life, alarms) if r["type"] == "hold.accepted"]

        # While the contract runs, a reader with the keys sees everything.
        (hold_record,) = await until(accepted, 30, "the hold's acceptance")
        assert hold_record["customer_id"] == customer
        assert hold_record["details"]["case_reference"] == CASE
        # On the topic itself, nothing of the customer, their objects, the case or the officer.
        raw = b"".join(r.value for r in await read_all(bootstrap, topics["TOPICS__AUDIT"]))
        for personal in (customer, plain[0][1], held[0][1], CASE, OFFICER):
            assert personal.encode() not in raw, personal

        await produce(
            bootstrap, topics["TOPICS__CONTRACT_EVENTS"], [(customer.encode(), contract_ended_json(customer))]
        )

        async def erased() -> list[dict[str, Any]] | None:
            trail = await trail_of(life, alarms)
            named = [r for r in trail if r.get("customer_id") is not None]
            return trail if named and all(r["customer_id"] == ERASED for r in named) else None

        trail = await until(erased, 30, f"the customer's fields to be erased ({R6_SECONDS} s after the end)")
        for record in trail:
            assert all(o["key"] == ERASED for o in record.get("objects", []))
            assert customer not in json.dumps(record)
        # The hold's own fields have their own row (S5): still readable.
        (hold_record,) = [r for r in trail if r["type"] == "hold.accepted"]
        assert hold_record["details"]["case_reference"] == CASE
        assert hold_record["erased"] == ["customer"]
        # No key that opens the customer's parts is left on the broker (its changelog's latest values).
        keys = await subject_keys(bootstrap)
        sealed = [
            r for r in await read_json(bootstrap, topics["TOPICS__AUDIT"]) if r.get("alarm_id") in alarms
        ]
        assert sealed  # read as shown: every customer part erased, so no kid of theirs is live
        assert all(r.get("customer_id") in (None, ERASED) for r in sealed)
        assert keys  # the hold's key, at least, is alive

        verdict = verify(life, media_stack)
        assert verdict["broken"] == []
        assert verdict["records"] > 0

        async with httpx.AsyncClient(
            base_url=life["worker"].url, headers={"Authorization": f"Bearer {TOKENS['operator']}"}, timeout=30
        ) as api:
            access = await api.post(f"/api/v1/customers/{customer}/requests", json={"kind": "access"})
        assert access.status_code == 201, access.text
        (fields,) = access.json()["answer"]["service_records"]
        assert fields["erased_at"] is not None
        assert fields["kept_until"] is None
        assert "customer number" in fields["what"]
