"""Erasure commands on the real stack: a contract end produces each category's `erasure.due` at its
due time, a confirmation closes it, and a command left unconfirmed is flagged and sent again.

The worker runs a drill schedule (config/retention-schedule.toml with seconds instead of years), so
the whole path (Kafka topics, the customers table, the scheduler, the API, the metrics) is exercised
in seconds; the real periods are pinned by tests/unit/test_calendar.py and test_erasure.py.
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

from streams.local.stack import LocalStack, input_topics_of, isolated_topics
from streams.local.worker_process import TOKENS, WorkerProcess
from tests.builders import contract_ended_json
from tests.e2e.helpers import drill_schedule, until
from tests.kafka_helpers import produce, read_json

pytestmark = pytest.mark.e2e

# R3 at once, R5 after 3 s, R6 after 5 s, R4 and R7 after 8 s; R8 is not started by a contract end.
DRILL = {"R3": None, "R4": 8, "R5": 3, "R6": 5, "R7": 8}
CONFIRM_WITHIN = 4


@pytest.fixture(scope="module")
def drill(
    media_stack: LocalStack, artifacts: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    prefix = f"drill-{uuid.uuid4().hex[:6]}"
    topics = isolated_topics(prefix)
    media_stack.create_topics(input_topics_of(topics), 4)
    drilled = {rule: seconds for rule, seconds in DRILL.items() if seconds is not None}
    schedule = drill_schedule(tmp_path_factory.mktemp("drill") / "schedule.toml", drilled)
    worker = WorkerProcess(
        media_stack,
        artifacts / f"{prefix}.log",
        APP_ID=prefix,
        RETENTION_SCHEDULE_FILE=str(schedule),
        ERASURE_CONFIRM_WITHIN=f"PT{CONFIRM_WITHIN}S",
        # R6 is 5 s here; the customer's fields in the audit trail stay readable for the test to check.
        CUSTOMER_KEY_LIFETIME="P1D",
        SWEEP_INTERVAL="PT0S",
        **topics,
    ).start()
    try:
        worker.wait_ready()
        yield {"worker": worker, "topics": topics, "bootstrap": media_stack.kafka_bootstrap}
    finally:
        worker.stop()


def operator() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS['operator']}"}


async def commands_for(drill: dict[str, Any], customer: str) -> list[dict[str, Any]]:
    records = await read_json(drill["bootstrap"], drill["topics"]["TOPICS__ERASURE_COMMANDS"])
    return [r for r in records if r["customer_id"] == customer]


async def confirm(drill: dict[str, Any], customer: str, command: dict[str, Any]) -> None:
    value = json.dumps({
        "type": "erasure.completed", "event_id": f"done-{uuid.uuid4().hex[:8]}",
        "command_id": command["command_id"], "customer_id": customer, "system": command["system"],
        "completed_at": datetime.now(UTC).isoformat(),
    }).encode()  # fmt: skip
    await produce(
        drill["bootstrap"], drill["topics"]["TOPICS__ERASURE_CONFIRMATIONS"], [(customer.encode(), value)]
    )


class TestErasureCommands:
    async def test_each_category_is_commanded_on_time_and_confirmed_or_sent_again(
        self, drill: dict[str, Any]
    ) -> None:
        customer = f"customer-{uuid.uuid4().hex[:8]}"
        ended_at = datetime.now(UTC)
        await produce(
            drill["bootstrap"],
            drill["topics"]["TOPICS__CONTRACT_EVENTS"],
            [(customer.encode(), contract_ended_json(customer, at=ended_at))],
        )

        confirmed: set[str] = set()

        async def first_sends() -> list[dict[str, Any]] | None:
            commands = await commands_for(drill, customer)
            # Every system confirms as soon as it is told, except the one for R5.
            for command in commands:
                if command["rule"] != "R5" and command["command_id"] not in confirmed:
                    await confirm(drill, customer, command)
                    confirmed.add(command["command_id"])
            firsts = [c for c in commands if c["attempt"] == 1]
            return firsts if len(firsts) == len(DRILL) else None

        firsts = await until(first_sends, 60, "a first command for every rule")
        by_rule = {c["rule"]: c for c in firsts}
        assert set(by_rule) == set(DRILL)
        for rule, seconds in DRILL.items():
            command = by_rule[rule]
            sent_at = datetime.fromisoformat(command["sent_at"])
            due_at = datetime.fromisoformat(command["due_at"])
            assert (due_at - ended_at).total_seconds() == pytest.approx(seconds or 0, abs=0.01)
            assert sent_at >= due_at  # never early
            assert (sent_at - due_at).total_seconds() < 5  # and on time

        async def resent() -> dict[str, Any] | None:
            commands = await commands_for(drill, customer)
            return next((c for c in commands if c["rule"] == "R5" and c["attempt"] == 2), None)

        again = await until(resent, 30, "R5 sent again")
        assert again["command_id"] == by_rule["R5"]["command_id"]
        worker: WorkerProcess = drill["worker"]
        async with httpx.AsyncClient(base_url=worker.url, headers=operator(), timeout=10) as api:

            async def flagged() -> list[dict[str, Any]] | None:
                answer = (await api.get("/api/v1/erasures/unconfirmed")).json()["erasures"]
                mine = [e for e in answer if e["customer_id"] == customer]
                return mine or None

            [unconfirmed] = await until(flagged, 20, "the unconfirmed command listed")
            assert unconfirmed["rule"] == "R5"
            assert unconfirmed["status"] == "unconfirmed"
            assert "retention_erasures_unconfirmed 1.0" in worker.metrics()

            await confirm(drill, customer, again)

            async def all_confirmed() -> dict[str, Any] | None:
                answer = (await api.get(f"/api/v1/customers/{customer}/erasures")).json()
                done = all(e["status"] == "confirmed" for e in answer["erasures"])
                return answer if done else None

            view = await until(all_confirmed, 20, "every erasure confirmed")
            assert sorted(e["rule"] for e in view["erasures"]) == sorted(DRILL)
            summary = (await api.get("/api/v1/summary")).json()
            assert summary["erasures_unconfirmed"] == 0

        audit = [
            r
            for r in await read_json(drill["bootstrap"], drill["topics"]["TOPICS__AUDIT"])
            if r.get("customer_id") == customer
        ]
        types = [r["type"] for r in audit]
        assert types.count("erasure.scheduled") == 5
        assert types.count("erasure.confirmed") == 5
        assert "erasure.unconfirmed" in types
