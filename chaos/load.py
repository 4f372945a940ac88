"""The load during a fault: alarms with media, holds, releases and a contract end, as the alarm platform
and the police liaison would send them, remembering what was sent and when."""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer

from handlers.signing import sign
from streams.local.worker_process import SIGNING_KEY, SIGNING_KEY_ID

OBJECTS_PER_ALARM = 2


@dataclass
class AlarmPlan:
    alarm_id: str
    customer_id: str
    triggered_at: datetime
    keys: list[str]
    hold_id: str | None = None
    hold_placed_at: datetime | None = None  # the hold's placed_at, stamped before it is sent
    hold_acked_at: datetime | None = None  # when the broker acknowledged it (an outage can delay it)
    hold_released_at: datetime | None = None


@dataclass
class Plan:
    """What was sent, in the sender's clock (the same host's as the worker's)."""

    retention: timedelta
    hold_limit: timedelta
    alarms: dict[str, AlarmPlan] = field(default_factory=dict)
    contract_ends: dict[str, datetime] = field(default_factory=dict)
    events_sent: int = 0


class LoadGenerator:
    def __init__(
        self,
        bootstrap: str,
        s3: Any,
        bucket: str,
        plan: Plan,
        seed: int = 7,
        uploaded: Callable[[list[str]], None] | None = None,
    ) -> None:
        """`uploaded`: told the keys of each alarm once they are in the bucket (the harness's watch)."""
        self._bootstrap = bootstrap
        self._s3 = s3
        self._bucket = bucket
        self._uploaded = uploaded
        self.plan = plan
        self._random = random.Random(seed)
        self._producer: AIOKafkaProducer | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self, duration: float, alarms_per_second: float, customers: int = 8) -> None:
        """Send for `duration` seconds; a hold on about a third of the alarms (half of them released
        later); one customer's contract ends half-way."""
        self._producer = AIOKafkaProducer(bootstrap_servers=self._bootstrap, request_timeout_ms=10_000)
        await self._start_producer()
        try:
            loop = asyncio.get_running_loop()
            end = loop.time() + duration
            ended_customer = f"chaos-customer-{customers - 1}"
            contract_sent = False
            while loop.time() < end:
                await self._alarm(f"chaos-customer-{self._random.randrange(customers)}")
                if not contract_sent and loop.time() > end - duration / 2:
                    contract_sent = True
                    await self._contract_end(ended_customer)
                await asyncio.sleep(1 / alarms_per_second)
            if self._tasks:
                await asyncio.gather(*self._tasks)
        finally:
            await self._producer.stop()

    async def burst(self, alarms: int, holds_after: float = 2.0) -> None:
        """`alarms` alarms sent back to back, then `holds_after` seconds later a hold on each, back to
        back: the broker gets them in batches of several records (the case that once lost holds)."""
        self._producer = AIOKafkaProducer(bootstrap_servers=self._bootstrap, linger_ms=20)
        await self._start_producer()
        try:
            plans = []
            triggered_at = datetime.now(UTC)
            for _ in range(alarms):
                alarm_id = f"burst-{uuid.uuid4().hex[:10]}"
                keys = [f"{alarm_id}/{n}.jpg" for n in range(OBJECTS_PER_ALARM)]
                await asyncio.to_thread(self._upload, keys)
                plans.append(AlarmPlan(alarm_id, "burst-customer", triggered_at, keys))
            await self._send_all([("alarm-events", plan.alarm_id, self._triggered(plan)) for plan in plans])
            for plan in plans:
                self.plan.alarms[plan.alarm_id] = plan
            await asyncio.sleep(holds_after)
            placed = []
            for plan in plans:
                plan.hold_id = f"hold-{uuid.uuid4().hex[:8]}"
                plan.hold_placed_at = datetime.now(UTC)
                placed.append(("police-holds", plan.alarm_id, self._placed(plan)))
            await self._send_all(placed)
            acked = datetime.now(UTC)
            for plan in plans:
                plan.hold_acked_at = acked
        finally:
            await self._producer.stop()

    async def _send_all(self, records: list[tuple[str, str, dict[str, Any]]]) -> None:
        """Hand every record to the producer before waiting for any."""
        assert self._producer is not None
        sent = [
            await self._producer.send(topic, json.dumps(document).encode(), key=key.encode())
            for topic, key, document in records
        ]
        await asyncio.gather(*sent)
        self.plan.events_sent += len(records)

    async def _start_producer(self) -> None:
        assert self._producer is not None
        while True:  # the broker may be unreachable when the load starts
            try:
                await self._producer.start()
                return
            except Exception:
                await asyncio.sleep(1)

    async def _send(self, topic: str, key: str, document: dict[str, Any]) -> None:
        """Like a careful producer: keep trying until the broker has it."""
        assert self._producer is not None
        while True:
            try:
                await self._producer.send_and_wait(topic, json.dumps(document).encode(), key=key.encode())
                self.plan.events_sent += 1
                return
            except Exception:
                await asyncio.sleep(0.5)

    async def _alarm(self, customer_id: str) -> None:
        alarm_id = f"chaos-{uuid.uuid4().hex[:10]}"
        keys = [f"{alarm_id}/{n}.jpg" for n in range(OBJECTS_PER_ALARM)]
        await asyncio.to_thread(self._upload, keys)
        plan = AlarmPlan(alarm_id, customer_id, datetime.now(UTC), keys)
        self.plan.alarms[alarm_id] = plan
        await self._send("alarm-events", alarm_id, self._triggered(plan))
        if self._random.random() < 0.33:
            task = asyncio.create_task(self._hold(plan))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _triggered(self, plan: AlarmPlan) -> dict[str, Any]:
        return {
            "type": "alarm.triggered",
            "event_id": str(uuid.uuid4()),
            "alarm_id": plan.alarm_id,
            "customer_id": plan.customer_id,
            "triggered_at": plan.triggered_at.isoformat(),
            "media": [{"bucket": self._bucket, "key": k} for k in plan.keys],
        }

    def _placed(self, plan: AlarmPlan) -> dict[str, Any]:
        assert plan.hold_id is not None
        assert plan.hold_placed_at is not None
        placed = {
            "type": "hold.placed",
            "event_id": str(uuid.uuid4()),
            "hold_id": plan.hold_id,
            "alarm_id": plan.alarm_id,
            "case_reference": "CHAOS-1",
            "placed_by": "chaos-liaison",
            "placed_at": plan.hold_placed_at.isoformat(),
        }
        return sign(placed, SIGNING_KEY_ID, SIGNING_KEY.encode())

    def _upload(self, keys: list[str]) -> None:
        """Like a camera's uploader: keep trying while the store is away (a scenario may stop it)."""
        for key in keys:
            while True:
                try:
                    self._s3.put_object(Bucket=self._bucket, Key=key, Body=b"jpeg")
                    break
                except Exception:
                    time.sleep(0.5)
        if self._uploaded is not None:
            self._uploaded(keys)

    async def _hold(self, plan: AlarmPlan) -> None:
        await asyncio.sleep(self._random.uniform(1, 3))
        plan.hold_id = f"hold-{uuid.uuid4().hex[:8]}"
        plan.hold_placed_at = datetime.now(UTC)
        await self._send("police-holds", plan.alarm_id, self._placed(plan))
        plan.hold_acked_at = datetime.now(UTC)
        if self._random.random() < 0.5:
            await asyncio.sleep(self.plan.retention.total_seconds() + self._random.uniform(2, 8))
            released_at = datetime.now(UTC)
            released = {
                "type": "hold.released",
                "event_id": str(uuid.uuid4()),
                "hold_id": plan.hold_id,
                "alarm_id": plan.alarm_id,
                "released_by": "chaos-liaison",
                "released_at": released_at.isoformat(),
            }
            plan.hold_released_at = released_at
            await self._send(
                "police-holds", plan.alarm_id, sign(released, SIGNING_KEY_ID, SIGNING_KEY.encode())
            )

    async def _contract_end(self, customer_id: str) -> None:
        ended_at = datetime.now(UTC)
        self.plan.contract_ends[customer_id] = ended_at
        await self._send(
            "contract-events",
            customer_id,
            {
                "type": "contract.ended",
                "event_id": str(uuid.uuid4()),
                "customer_id": customer_id,
                "ended_at": ended_at.isoformat(),
            },
        )
