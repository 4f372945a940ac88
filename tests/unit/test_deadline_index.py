"""The deadline index, in memory and on disk (TABLE_STORE=rocksdb): the same answers from both."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.worker.disk_index import DiskDeadlineIndex
from streams.worker.scheduler import DeadlineIndex
from tests.builders import T0

Index = Any  # DeadlineIndex | DiskDeadlineIndex


@pytest.fixture(params=["memory", "disk"])
def new_index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Index]]:
    made: list[DiskDeadlineIndex] = []

    def make() -> Index:
        if request.param == "memory":
            return DeadlineIndex()
        made.append(DiskDeadlineIndex(tmp_path / f"index-{len(made)}"))
        return made[-1]

    yield make
    for index in made:
        index.close()


class TestDeadlineIndex:
    def test_due_alarms_come_out_grouped_by_partition(self, new_index: Callable[[], Index]) -> None:
        index = new_index()
        index.set("a", 0, T0)
        index.set("b", 1, T0 + timedelta(seconds=1))
        index.set("c", 0, T0 + timedelta(seconds=2))
        assert index.pop_due(T0 + timedelta(seconds=1)) == {0: ["a"], 1: ["b"]}
        assert len(index) == 1
        assert index.next_deadline() == (T0 + timedelta(seconds=2)).timestamp()

    def test_nothing_comes_out_early(self, new_index: Callable[[], Index]) -> None:
        index = new_index()
        index.set("a", 0, T0)
        assert index.pop_due(T0 - timedelta(microseconds=1)) == {}

    def test_a_moved_deadline_replaces_the_old_one(self, new_index: Callable[[], Index]) -> None:
        index = new_index()
        index.set("a", 0, T0)
        index.set("a", 0, T0 + timedelta(days=23))  # a hold extended it
        assert index.pop_due(T0 + timedelta(days=1)) == {}
        assert index.pop_due(T0 + timedelta(days=23)) == {0: ["a"]}

    def test_an_earlier_deadline_is_reported_as_the_new_earliest(
        self, new_index: Callable[[], Index]
    ) -> None:
        index = new_index()
        assert index.set("a", 0, T0 + timedelta(days=7)) is True
        assert index.set("b", 0, T0 + timedelta(days=8)) is False
        assert index.set("c", 0, T0) is True

    def test_clearing_with_none_stops_tracking(self, new_index: Callable[[], Index]) -> None:
        index = new_index()
        index.set("a", 0, T0)
        index.set("a", 0, None)
        assert len(index) == 0
        assert index.pop_due(T0 + timedelta(days=1)) == {}
        assert index.next_deadline() is None

    def test_dropped_partitions_are_forgotten(self, new_index: Callable[[], Index]) -> None:
        index = new_index()
        for i in range(10):
            index.set(f"alarm-{i}", i % 2, T0)
        index.drop_partitions([1])
        assert index.pop_due(T0) == {0: [f"alarm-{i}" for i in range(0, 10, 2)]}

    def test_pop_due_respects_its_limit(self, new_index: Callable[[], Index]) -> None:
        index = new_index()
        for i in range(5):
            index.set(f"alarm-{i}", 0, T0)
        assert sum(len(v) for v in index.pop_due(T0, limit=3).values()) == 3
        assert len(index) == 2

    def test_stale_entries_do_not_pile_up_after_many_moves(self) -> None:  # the heap only
        index = DeadlineIndex()
        for step in range(5000):
            index.set("a", 0, T0 + timedelta(seconds=step))
        index.drop_partitions([])  # compacts a heap that is mostly stale
        assert len(index._heap) < 2000
        assert index.pop_due(T0 + timedelta(hours=2)) == {0: ["a"]}


OPERATION = st.one_of(
    st.tuples(
        st.just("set"),
        st.sampled_from(["a", "b", "c", "d"]),
        st.integers(0, 2),
        st.one_of(st.none(), st.integers(0, 100)),
    ),
    st.tuples(st.just("pop"), st.integers(0, 100)),
    st.tuples(st.just("drop"), st.integers(0, 2)),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(OPERATION, max_size=40))
def test_the_index_on_disk_answers_as_the_one_in_memory(tmp_path_factory: Any, operations: list[Any]) -> None:
    memory, disk = DeadlineIndex(), DiskDeadlineIndex(tmp_path_factory.mktemp("index") / "db")
    try:
        for operation in operations:
            if operation[0] == "set":
                _, key, partition, seconds = operation
                deadline = T0 + timedelta(seconds=seconds) if seconds is not None else None
                before = [when for k, (when, _) in memory._current.items()]
                memory.set(key, partition, deadline)
                earliest = disk.set(key, partition, deadline)
                # True exactly when it comes before everything tracked (the scheduler wakes for it)
                expected = deadline is not None and all(deadline.timestamp() < when for when in before)
                assert earliest == expected
            elif operation[0] == "pop":
                # All that is due (a limit cutting among equal times may take different ones; the
                # limit has its own test above): the same alarms, whatever their order.
                at = T0 + timedelta(seconds=operation[1])
                popped = [memory.pop_due(at), disk.pop_due(at)]
                assert [{p: set(ids) for p, ids in due.items()} for due in popped] == [
                    {p: set(ids) for p, ids in popped[0].items()}
                ] * 2
            else:
                memory.drop_partitions([operation[1]])
                disk.drop_partitions([operation[1]])
            assert len(memory) == len(disk)
            assert memory.next_deadline() == disk.next_deadline()
    finally:
        disk.close()
