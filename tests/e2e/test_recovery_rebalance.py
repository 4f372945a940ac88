"""Held evidence survives a second worker joining and leaving across the deadline, on both of Tansu's
storage engines."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

import pytest

from streams.local.stack import LocalStack
from streams.local.worker_process import WorkerProcess
from tests.e2e.helpers import sleep_until
from tests.e2e.recovery_scenario import RETENTION_SECONDS, Scenario

pytestmark = pytest.mark.e2e


async def test_held_evidence_survives_a_worker_joining_and_leaving(
    each_broker: LocalStack, artifacts: Path
) -> None:
    scenario = await asyncio.to_thread(Scenario, each_broker, artifacts, "burst-rebalance")
    first = scenario.worker("first").start()
    joining = scenario.worker("joining")
    try:
        await asyncio.to_thread(first.wait_ready)
        await scenario.trigger_then_hold_in_a_burst()
        joining.start()
        await asyncio.to_thread(wait_for_both_to_own_partitions, first, joining)
        # The newcomer owns some partitions across the deadline, then leaves and gives them back.
        await sleep_until(scenario.triggered_at + timedelta(seconds=RETENTION_SECONDS + 5))
        joining.stop()
        await scenario.check_nothing_held_was_deleted(first)
    finally:
        first.stop()
        joining.stop()


def wait_for_both_to_own_partitions(a: WorkerProcess, b: WorkerProcess, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        health = [a.health() or {}, b.health() or {}]
        if all(h.get("status") == "ready" and h.get("partitions") for h in health):
            return
        time.sleep(0.5)
    raise TimeoutError(f"the partitions were not split: {a.health()} {b.health()}")
