from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from streams.worker.scheduler import DeadlineIndex, Scheduler
from tests.builders import T0
from tests.fakes import FakeClock


class Notifications:
    def __init__(self) -> None:
        self.sent: list[tuple[int, list[str]]] = []
        self.fail = False
        self.arrived = asyncio.Event()

    async def __call__(self, partition: int, alarm_ids: list[str], checked_at: datetime) -> None:
        if self.fail:
            raise ConnectionError("broker down")
        self.sent.append((partition, alarm_ids))
        self.arrived.set()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


async def run_briefly(scheduler: Scheduler, seconds: float = 0.05) -> None:
    task = asyncio.create_task(scheduler.run())
    await asyncio.sleep(seconds)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


class TestScheduler:
    async def test_a_due_alarm_is_announced_on_its_partition(self, clock: FakeClock) -> None:
        notify = Notifications()
        scheduler = Scheduler(DeadlineIndex(), clock, notify)
        scheduler.track("a", 2, T0)
        scheduler.track("b", 2, T0 + timedelta(days=1))
        await run_briefly(scheduler)
        assert notify.sent == [(2, ["a"])]

    async def test_an_announced_alarm_is_asked_about_again_if_nothing_happens(self, clock: FakeClock) -> None:
        notify = Notifications()
        scheduler = Scheduler(DeadlineIndex(), clock, notify, recheck_after=timedelta(seconds=30))
        scheduler.track("a", 0, T0)
        await run_briefly(scheduler)
        clock.advance(timedelta(seconds=31))
        await run_briefly(scheduler)
        assert notify.sent == [(0, ["a"]), (0, ["a"])]

    async def test_a_failed_announcement_is_retried(self, clock: FakeClock) -> None:
        notify = Notifications()
        notify.fail = True
        scheduler = Scheduler(DeadlineIndex(), clock, notify, max_sleep=0.01)
        scheduler.track("a", 0, T0)
        await run_briefly(scheduler)
        notify.fail = False
        clock.advance(timedelta(seconds=1))
        await run_briefly(scheduler)
        assert notify.sent == [(0, ["a"])]

    async def test_an_earlier_deadline_wakes_a_sleeping_scheduler(self, clock: FakeClock) -> None:
        notify = Notifications()
        scheduler = Scheduler(DeadlineIndex(), clock, notify, max_sleep=3600)
        task = asyncio.create_task(scheduler.run())
        await asyncio.sleep(0.01)
        scheduler.track("a", 1, T0)
        await asyncio.wait_for(notify.arrived.wait(), timeout=2)
        task.cancel()
        assert notify.sent == [(1, ["a"])]

    async def test_large_bursts_are_split_into_batches(self, clock: FakeClock) -> None:
        notify = Notifications()
        scheduler = Scheduler(DeadlineIndex(), clock, notify, batch=100)
        for i in range(250):
            scheduler.track(f"alarm-{i}", 0, T0)
        await run_briefly(scheduler)
        assert [len(ids) for _, ids in notify.sent] == [100, 100, 50]
