"""Held evidence survives a SIGKILL right after a burst of holds, on both of Tansu's storage engines:
what the audit trail says was accepted, the recovered state holds."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from streams.local.stack import LocalStack
from tests.e2e.recovery_scenario import Scenario

pytestmark = pytest.mark.e2e


async def test_held_evidence_survives_a_sigkill_right_after_a_burst_of_holds(
    each_broker: LocalStack, artifacts: Path
) -> None:
    scenario = await asyncio.to_thread(Scenario, each_broker, artifacts, "burst-kill")
    first = scenario.worker("first").start()
    second = scenario.worker("second")
    try:
        await asyncio.to_thread(first.wait_ready)
        await scenario.trigger_then_hold_in_a_burst()
        first.kill()
        second.start()
        await asyncio.to_thread(second.wait_ready)
        await scenario.check_nothing_held_was_deleted(second)
    finally:
        first.stop()
        second.stop()
