"""What is left of an audit partition, judged against its checkpoints: records removed by retention are
excused, records removed or rewritten by someone are named, however the rest of the chain looks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from handlers.audit_chain import GENESIS, Checkpoint, check_partition, seal
from streams.audit.checkpoints import AuditCheckpoints
from tests.fakes import FakeClock, FakeTopic

NOW = datetime(2032, 6, 1, 12, 0, tzinfo=UTC)
RETENTION = timedelta(days=6 * 365 + 2)
REMOVABLE_BEFORE = NOW - RETENTION
LONG_AGO = REMOVABLE_BEFORE - timedelta(days=30)  # past the retention: its records may be gone
RECENTLY = NOW - timedelta(hours=1)


def chain(count: int) -> list[tuple[int, bytes]]:
    records, prev = [], GENESIS
    for offset in range(count):
        sealed = seal(prev, {"type": "media.deleted", "audit_id": f"a-{offset}"})
        prev = sealed["hash"]
        records.append((offset, json.dumps(sealed).encode()))
    return records


def hash_at(records: list[tuple[int, bytes]], offset: int) -> str:
    return str(json.loads(dict(records)[offset])["hash"])


def checkpoint(records: list[tuple[int, bytes]], offset: int, at: datetime) -> Checkpoint:
    return Checkpoint(0, offset, hash_at(records, offset), at)


def rewritten(records: list[tuple[int, bytes]], start: int) -> list[tuple[int, bytes]]:
    """The partition with every record from `start` on changed and chained again, consistently."""
    out, prev = list(records[:start]), hash_at(records, start - 1)
    for offset, value in records[start:]:
        document = json.loads(value)
        document.pop("hash"), document.pop("prev_hash")
        document["audit_id"] += "-forged"
        sealed = seal(prev, document)
        prev = sealed["hash"]
        out.append((offset, json.dumps(sealed).encode()))
    return out


class TestAWholePartition:
    def test_is_intact_with_or_without_checkpoints(self) -> None:
        records = chain(10)
        for checkpoints in ([], [checkpoint(records, 4, RECENTLY), checkpoint(records, 9, RECENTLY)]):
            result = check_partition(0, records, 10, checkpoints, REMOVABLE_BEFORE)
            assert (result.records, result.removed_by_retention, result.problem) == (10, 0, None)

    def test_checkpoints_of_other_partitions_are_not_its_own(self) -> None:
        records = chain(10)
        other = Checkpoint(1, 20, "f" * 64, RECENTLY)
        assert check_partition(0, records, 10, [other], REMOVABLE_BEFORE).problem is None


class TestItsStartRemoved:
    def test_by_retention_is_counted_not_reported(self) -> None:
        records = chain(10)
        result = check_partition(0, records[4:], 10, [checkpoint(records, 2, LONG_AGO)], REMOVABLE_BEFORE)
        assert (result.records, result.removed_by_retention, result.problem) == (6, 4, None)

    def test_before_its_time_is_reported_at_the_first_record_left(self) -> None:
        records = chain(10)
        checkpoints = [checkpoint(records, 1, LONG_AGO), checkpoint(records, 3, RECENTLY)]
        result = check_partition(0, records[4:], 10, checkpoints, REMOVABLE_BEFORE)
        assert result.problem is not None
        assert result.problem.offset == 4
        assert "offset 3" in result.problem.reason
        assert "within the topic's retention" in result.problem.reason
        assert result.removed_by_retention == 0

    def test_from_a_topic_that_keeps_everything_is_reported(self) -> None:
        records = chain(10)
        result = check_partition(0, records[4:], 10, [], removable_before=None)
        assert result.problem is not None
        assert result.problem.offset == 4
        assert "forever" in result.problem.reason

    def test_the_first_record_left_must_follow_the_checkpoint_of_the_one_before(self) -> None:
        records = chain(10)
        forged = rewritten(records, 2)[4:]  # follows a forged record 3, not the checkpointed one
        result = check_partition(0, forged, 10, [checkpoint(records, 3, LONG_AGO)], REMOVABLE_BEFORE)
        assert result.problem is not None
        assert result.problem.offset == 4
        assert "prev_hash" in result.problem.reason

    def test_every_record_gone_is_judged_too(self) -> None:
        records = chain(10)
        assert (
            check_partition(0, [], 10, [checkpoint(records, 9, LONG_AGO)], REMOVABLE_BEFORE).problem is None
        )
        result = check_partition(0, [], 10, [checkpoint(records, 9, RECENTLY)], REMOVABLE_BEFORE)
        assert result.problem is not None
        assert result.problem.offset == 10


class TestTheMiddleOrTheEndChanged:
    def test_a_changed_record_is_named_by_the_chain(self) -> None:
        records = chain(10)
        document = json.loads(records[5][1])
        document["audit_id"] = "changed"
        records[5] = (5, json.dumps(document).encode())
        result = check_partition(0, records, 10, [], REMOVABLE_BEFORE)
        assert result.problem is not None
        assert result.problem.offset == 5

    def test_a_rewritten_tail_chained_again_is_named_by_its_checkpoint(self) -> None:
        records = chain(10)
        checkpoints = [checkpoint(records, 2, RECENTLY), checkpoint(records, 6, RECENTLY)]
        forged = rewritten(records, 5)
        assert check_partition(0, forged, 10, [], REMOVABLE_BEFORE).problem is None  # the chain alone: fooled
        result = check_partition(0, forged, 10, checkpoints, REMOVABLE_BEFORE)
        assert result.problem is not None
        assert result.problem.offset == 6
        assert "rewritten" in result.problem.reason

    def test_records_cut_from_the_end_are_reported_where_it_ends(self) -> None:
        records = chain(10)
        result = check_partition(0, records[:7], 7, [checkpoint(records, 9, RECENTLY)], REMOVABLE_BEFORE)
        assert result.problem is not None
        assert result.problem.offset == 7
        assert "offset 9" in result.problem.reason
        assert "end" in result.problem.reason


class TestTheCheckpointRecord:
    def test_round_trips(self) -> None:
        original = Checkpoint(3, 41, "a" * 64, RECENTLY)
        assert Checkpoint.from_json(original.to_json()) == original

    @pytest.mark.parametrize(
        "raw",
        [
            b"not json",
            b"{}",
            b'{"partition": 1, "offset": 2, "hash": "x", "written_at": "2032-01-01T00:00:00"}',
        ],
    )
    def test_anything_else_is_refused(self, raw: bytes) -> None:
        with pytest.raises(ValueError, match="not an audit checkpoint"):
            Checkpoint.from_json(raw)


class TestTheWriter:
    def test_writes_each_head_once_when_it_moved_and_forgets_given_away_partitions(self) -> None:
        topic = FakeTopic()
        writer = AuditCheckpoints(topic, FakeClock(NOW), timedelta(minutes=1))
        writer.acknowledged(0, 5, "h5")
        writer.acknowledged(0, 4, "h4")  # an acknowledgement out of order does not move the head back
        writer.acknowledged(2, 0, "h0")
        assert writer.write() == 2
        assert writer.write() == 0  # nothing moved
        written = [Checkpoint.from_json(item["value"]) for item in topic.sent]
        assert [(c.partition, c.offset, c.hash) for c in written] == [(0, 5, "h5"), (2, 0, "h0")]
        writer.acknowledged(0, 6, "h6")
        writer.forget({0})
        assert writer.write() == 0
