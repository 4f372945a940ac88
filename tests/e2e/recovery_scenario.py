"""The recovery scenarios' world: 20 alarms held in a burst, a probe alarm that is not held, and the
checks, judged by listing the bucket and by the API, never by the worker's own log.

The bug they guard against: a burst of holds (so the changelog gets batches of several records), then
the worker SIGKILLed and a new one started, or a second worker joining and leaving. Tansu answers
ListOffsets(latest) wrongly once a partition has multi-record batches, so a recovery that trusts it
stops early and forgets holds.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from streams.local.stack import MEDIA_BUCKET, LocalStack, input_topics_of, isolated_topics
from streams.local.worker_process import TOKENS, WorkerProcess
from tests.builders import alarm_json, hold_placed_json
from tests.e2e.helpers import exists, sleep_until, wait_until_gone
from tests.kafka_helpers import produce_burst, wait_for_commit, wait_for_records

PARTITIONS = 4
RETENTION_SECONDS = 20
HOLD_SECONDS = 75
HELD_ALARMS = 20


class Scenario:
    """20 alarms held in a burst, and a probe alarm that is not held."""

    def __init__(self, stack: LocalStack, artifacts: Path, name: str) -> None:
        self.stack = stack
        self.prefix = f"{name}-{stack.broker_storage}-{uuid.uuid4().hex[:6]}"
        self.topics = isolated_topics(self.prefix)
        stack.create_topics(input_topics_of(self.topics), PARTITIONS)
        stack.create_bucket(MEDIA_BUCKET)
        self.settings = {
            **self.topics,
            "APP_ID": self.prefix,
            "MEDIA_RETENTION": f"PT{RETENTION_SECONDS}S",
            "HOLD_RETENTION": f"PT{HOLD_SECONDS}S",
            "SWEEP_INTERVAL": "PT0S",
        }
        self.artifacts = artifacts
        self.s3: Any = stack.s3_client()
        self.held = [f"{self.prefix}-held-{i}" for i in range(HELD_ALARMS)]
        self.probe = f"{self.prefix}-probe"
        self.objects = {a: (MEDIA_BUCKET, f"{a}/image.jpg") for a in [*self.held, self.probe]}
        self.holds = {a: f"hold-{a}" for a in self.held}
        self.triggered_at = datetime.now(UTC)

    def worker(self, name: str, **settings: str) -> WorkerProcess:
        return WorkerProcess(
            self.stack, self.artifacts / f"{self.prefix}-{name}.log", **{**self.settings, **settings}
        )

    async def trigger_then_hold_in_a_burst(self) -> None:
        await self.trigger_in_a_burst()
        await sleep_until(self.triggered_at + timedelta(seconds=2))
        await self.hold_in_a_burst()
        await wait_for_records(
            self.stack.kafka_bootstrap,
            self.topics["TOPICS__AUDIT"],
            lambda r: r["type"] == "hold.accepted" and r.get("alarm_id") in self.holds,
            count=HELD_ALARMS,
            timeout=30,
        )
        # The worst moment: the holds' offsets are committed, so the holds now live only in the
        # worker's state (before that, a restart would simply process them again).
        await self.committed(self.topics["TOPICS__POLICE_HOLDS"], HELD_ALARMS)

    async def committed(self, topic: str, records: int) -> None:
        await wait_for_commit(self.stack.kafka_bootstrap, self.prefix, topic, records)

    async def trigger_in_a_burst(self) -> None:
        for bucket, key in self.objects.values():
            self.s3.put_object(Bucket=bucket, Key=key, Body=b"jpeg")
        self.triggered_at = datetime.now(UTC)
        await produce_burst(
            self.stack.kafka_bootstrap,
            self.topics["TOPICS__ALARM_EVENTS"],
            [
                (
                    alarm.encode(),
                    alarm_json(alarm, [self.objects[alarm][1]], bucket=MEDIA_BUCKET, at=self.triggered_at),
                )
                for alarm in self.objects
            ],
        )

    async def hold_in_a_burst(self) -> None:
        await produce_burst(
            self.stack.kafka_bootstrap,
            self.topics["TOPICS__POLICE_HOLDS"],
            [(alarm.encode(), hold_placed_json(alarm, self.holds[alarm])) for alarm in self.held],
        )

    async def check_nothing_held_was_deleted(self, worker: WorkerProcess) -> None:
        # The probe shows the worker is deciding: it goes at its deadline, past which the held ones
        # would have gone too.
        await sleep_until(self.triggered_at + timedelta(seconds=RETENTION_SECONDS))
        await wait_until_gone(self.s3, [self.objects[self.probe]], timeout=30)
        await sleep_until(self.triggered_at + timedelta(seconds=RETENTION_SECONDS + 15))
        deleted = [a for a in self.held if not exists(self.s3, *self.objects[a])]
        assert deleted == [], f"{len(deleted)} of {HELD_ALARMS} held objects deleted"
        assert self.active_holds(worker) == set(self.holds.values())
        assert (worker.health() or {}).get("recovery") == "complete"

    def active_holds(self, worker: WorkerProcess) -> set[str]:
        # As an operator: these holds come straight from the topic, placed by no unit's liaison.
        headers = {"Authorization": f"Bearer {TOKENS['operator']}"}
        answer = httpx.get(f"{worker.url}/api/v1/holds", headers=headers, timeout=10).json()
        return {h["hold_id"] for h in answer["holds"] if h["alarm_id"] in self.holds}
