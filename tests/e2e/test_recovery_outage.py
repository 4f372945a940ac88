"""Holds that reach Kafka while no worker runs win over the deadlines that pass meanwhile."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from streams.kafka.topic_ends import committed_total
from streams.local.stack import LocalStack
from tests.e2e.helpers import sleep_until
from tests.e2e.recovery_scenario import RETENTION_SECONDS, Scenario
from tests.kafka_helpers import wait_for_records

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("killed", ["after_the_commit", "before_the_commit"])
async def test_holds_that_arrive_while_no_worker_runs_win_over_the_deadlines_that_pass_meanwhile(
    stack: LocalStack, artifacts: Path, killed: str
) -> None:
    """The holds reach Kafka long before the deadline, but no worker runs until after it: the restarted
    worker must apply them before it acts on the deadlines that passed meanwhile. Killed before the
    commit, the successor also processes the alarm-triggers again, past their deadlines."""
    scenario = await asyncio.to_thread(Scenario, stack, artifacts, f"down-at-deadline-{killed}")
    # Before the commit: the first worker commits only once a minute, so it is killed before it does.
    committing = {"KAFKA_COMMIT_INTERVAL": "PT60S"} if killed == "before_the_commit" else {}
    first = scenario.worker("first", **committing).start()
    second = scenario.worker("second")
    try:
        await asyncio.to_thread(first.wait_ready)
        await scenario.trigger_in_a_burst()
        if killed == "after_the_commit":
            await scenario.committed(scenario.topics["TOPICS__ALARM_EVENTS"], len(scenario.objects))
        else:  # the state is durable (its audit records are out), the offsets not yet committed
            await wait_for_records(
                stack.kafka_bootstrap,
                scenario.topics["TOPICS__AUDIT"],
                lambda r: r["type"] == "media.deletion_scheduled",
                count=len(scenario.objects),
            )
        first.kill()
        if killed == "before_the_commit":  # the moment this case is about, checked rather than hoped for
            stream = scenario.topics["TOPICS__ALARM_STREAM"]
            assert await committed_total(
                {"bootstrap_servers": stack.kafka_bootstrap}, scenario.prefix, stream
            ) < len(scenario.objects)
        await scenario.hold_in_a_burst()  # placed 15 s and more before the deadline
        await sleep_until(scenario.triggered_at + timedelta(seconds=RETENTION_SECONDS + 3))
        second.start()
        await asyncio.to_thread(second.wait_ready)
        await scenario.check_nothing_held_was_deleted(second)
    finally:
        first.stop()
        second.stop()
