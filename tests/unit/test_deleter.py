from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from handlers.commands import DeletedObject
from streams.s3.object_store import InMemoryObjectStore
from streams.worker.deleter import Deleter
from tests.builders import T0
from tests.fakes import FakeClock


class Confirmations:
    def __init__(self) -> None:
        self.received: list[tuple[int, list[DeletedObject]]] = []
        self.failures_left = 0

    async def __call__(self, partition: int, objects: list[DeletedObject], deleted_at: datetime) -> None:
        if self.failures_left:
            self.failures_left -= 1
            raise ConnectionError("broker down")
        self.received.append((partition, objects))

    def keys(self) -> set[str]:
        return {o.key for _, objects in self.received for o in objects}


@pytest.fixture
def store() -> InMemoryObjectStore:
    store = InMemoryObjectStore(versioned_buckets=["evidence"])
    for i in range(5):
        store.put("media", f"{i}.jpg")
    return store


async def until(condition, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


def make_deleter(store: InMemoryObjectStore, confirm: Confirmations, **options: object) -> Deleter:
    defaults: dict[str, object] = {"linger": 0.0, "first_retry": 0.01, "max_retry": 0.05}
    return Deleter(store, FakeClock(T0), confirm, {"media", "evidence"}, **{**defaults, **options})  # type: ignore[arg-type]


class TestDeleter:
    async def test_submitted_objects_are_deleted_and_confirmed_per_partition(
        self, store: InMemoryObjectStore
    ) -> None:
        confirm = Confirmations()
        deleter = make_deleter(store, confirm)
        runner = asyncio.create_task(deleter.run())
        deleter.submit(0, "alarm-a", [("media", "0.jpg"), ("media", "1.jpg")])
        deleter.submit(3, "alarm-b", [("media", "2.jpg")])
        await until(lambda: deleter.outstanding == 0 and len(confirm.keys()) == 3)
        runner.cancel()
        assert not store.exists("media", "0.jpg")
        assert store.exists("media", "3.jpg")
        assert {p for p, _ in confirm.received} == {0, 3}

    async def test_batches_hold_at_most_batch_size_objects(self, store: InMemoryObjectStore) -> None:
        confirm = Confirmations()
        deleter = make_deleter(store, confirm, batch_size=2)
        deleter.submit(0, "alarm-a", [("media", f"{i}.jpg") for i in range(5)])
        runner = asyncio.create_task(deleter.run())
        await until(lambda: deleter.outstanding == 0)
        runner.cancel()
        assert store.calls == 3

    async def test_a_failing_store_is_retried_until_it_works(self, store: InMemoryObjectStore) -> None:
        confirm = Confirmations()
        deleter = make_deleter(store, confirm)
        store.available = False
        runner = asyncio.create_task(deleter.run())
        deleter.submit(0, "alarm-a", [("media", "0.jpg")])
        await until(lambda: deleter.failures_total >= 3)
        assert deleter.outstanding == 1
        assert store.exists("media", "0.jpg")
        store.available = True
        await until(lambda: deleter.outstanding == 0)
        runner.cancel()
        assert not store.exists("media", "0.jpg")
        assert confirm.keys() == {"0.jpg"}

    async def test_a_failed_confirmation_is_sent_again(self, store: InMemoryObjectStore) -> None:
        confirm = Confirmations()
        confirm.failures_left = 2
        deleter = make_deleter(store, confirm)
        runner = asyncio.create_task(deleter.run())
        deleter.submit(1, "alarm-a", [("media", "0.jpg")])
        await until(lambda: confirm.keys() == {"0.jpg"})
        runner.cancel()

    async def test_the_same_object_submitted_twice_is_deleted_once(self, store: InMemoryObjectStore) -> None:
        confirm = Confirmations()
        deleter = make_deleter(store, confirm)
        deleter.submit(0, "alarm-a", [("media", "0.jpg")])
        deleter.submit(0, "alarm-a", [("media", "0.jpg")])
        assert deleter.outstanding == 1
        runner = asyncio.create_task(deleter.run())
        await until(lambda: deleter.outstanding == 0)
        runner.cancel()
        assert store.calls == 1
        assert len(confirm.received) == 1

    async def test_a_bucket_outside_media_buckets_is_never_touched(self, store: InMemoryObjectStore) -> None:
        store.put("payroll", "salaries.xlsx")
        confirm = Confirmations()
        deleter = make_deleter(store, confirm)
        deleter.submit(0, "alarm-a", [("payroll", "salaries.xlsx")])
        assert deleter.outstanding == 0
        assert store.exists("payroll", "salaries.xlsx")
        assert store.calls == 0
