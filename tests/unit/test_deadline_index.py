from __future__ import annotations

from datetime import timedelta

from streams.worker.scheduler import DeadlineIndex
from tests.builders import T0


class TestDeadlineIndex:
    def test_due_alarms_come_out_grouped_by_partition(self) -> None:
        index = DeadlineIndex()
        index.set("a", 0, T0)
        index.set("b", 1, T0 + timedelta(seconds=1))
        index.set("c", 0, T0 + timedelta(seconds=2))
        assert index.pop_due(T0 + timedelta(seconds=1)) == {0: ["a"], 1: ["b"]}
        assert len(index) == 1
        assert index.next_deadline() == (T0 + timedelta(seconds=2)).timestamp()

    def test_nothing_comes_out_early(self) -> None:
        index = DeadlineIndex()
        index.set("a", 0, T0)
        assert index.pop_due(T0 - timedelta(microseconds=1)) == {}

    def test_a_moved_deadline_replaces_the_old_one(self) -> None:
        index = DeadlineIndex()
        index.set("a", 0, T0)
        index.set("a", 0, T0 + timedelta(days=23))  # a hold extended it
        assert index.pop_due(T0 + timedelta(days=1)) == {}
        assert index.pop_due(T0 + timedelta(days=23)) == {0: ["a"]}

    def test_an_earlier_deadline_is_reported_as_the_new_earliest(self) -> None:
        index = DeadlineIndex()
        assert index.set("a", 0, T0 + timedelta(days=7)) is True
        assert index.set("b", 0, T0 + timedelta(days=8)) is False
        assert index.set("c", 0, T0) is True

    def test_clearing_with_none_stops_tracking(self) -> None:
        index = DeadlineIndex()
        index.set("a", 0, T0)
        index.set("a", 0, None)
        assert len(index) == 0
        assert index.pop_due(T0 + timedelta(days=1)) == {}
        assert index.next_deadline() is None

    def test_dropped_partitions_are_forgotten(self) -> None:
        index = DeadlineIndex()
        for i in range(10):
            index.set(f"alarm-{i}", i % 2, T0)
        index.drop_partitions([1])
        assert index.pop_due(T0) == {0: [f"alarm-{i}" for i in range(0, 10, 2)]}

    def test_pop_due_respects_its_limit(self) -> None:
        index = DeadlineIndex()
        for i in range(5):
            index.set(f"alarm-{i}", 0, T0)
        assert sum(len(v) for v in index.pop_due(T0, limit=3).values()) == 3
        assert len(index) == 2

    def test_stale_entries_do_not_pile_up_after_many_moves(self) -> None:
        index = DeadlineIndex()
        for step in range(5000):
            index.set("a", 0, T0 + timedelta(seconds=step))
        index.drop_partitions([])  # compacts a heap that is mostly stale
        assert len(index._heap) < 2000
        assert index.pop_due(T0 + timedelta(hours=2)) == {0: ["a"]}
