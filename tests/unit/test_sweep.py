"""The reconciliation sweep: its judgement (pure) and the sweeper against an in-memory store."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.audit import AuditType
from handlers.commands import INTERNAL_MESSAGE, FoundObject, SweepCompleted, SweepFindings
from handlers.state import AlarmState, MediaObject, MediaStatus, encode_state
from handlers.sweep import Known, Verdict, completed_audit, findings_audit, judge
from streams.kafka.partitioning import partition_for
from streams.s3.object_store import InMemoryObjectStore
from streams.worker.projection import Projection
from streams.worker.read_model import ProjectionReads
from streams.worker.sweep import OVERDUE_AFTER, Sweeper
from tests.builders import POLICY, T0
from tests.fakes import FakeClock

GRACE = timedelta(hours=24)
NOW = T0 + timedelta(days=60)
OLDEST_PROMISE = POLICY.hold_retention + GRACE
PARTITIONS = 4


def verdict(age: timedelta, known: Known | None) -> Verdict:
    return judge(NOW - age, known, NOW, POLICY, GRACE, OVERDUE_AFTER)


class TestJudge:
    def test_an_unknown_object_goes_only_once_older_than_the_hold_limit_plus_grace(self) -> None:
        assert verdict(OLDEST_PROMISE + timedelta(seconds=1), None) is Verdict.ORPHAN
        assert verdict(OLDEST_PROMISE - timedelta(seconds=1), None) is Verdict.UNKNOWN
        assert verdict(timedelta(days=8), None) is Verdict.UNKNOWN
        assert verdict(timedelta(0), None) is Verdict.UNKNOWN

    def test_known_pending_media_is_overdue_only_past_its_deadline(self) -> None:
        late = Known("a", MediaStatus.PENDING, deadline=NOW - OVERDUE_AFTER - timedelta(seconds=1))
        on_time = Known("a", MediaStatus.PENDING, deadline=NOW - timedelta(seconds=1))
        assert verdict(timedelta(days=8), late) is Verdict.OVERDUE
        assert verdict(timedelta(days=8), on_time) is Verdict.FINE
        # Held media has no deadline while the hold lasts: never overdue, whatever its age.
        assert verdict(timedelta(days=400), Known("a", MediaStatus.PENDING, deadline=None)) is Verdict.FINE

    def test_media_being_deleted_is_left_to_the_deleter(self) -> None:
        assert verdict(timedelta(days=400), Known("a", MediaStatus.DELETING)) is Verdict.FINE

    def test_deleted_media_still_there_is_left_behind_unless_uploaded_again_after(self) -> None:
        started = NOW - timedelta(days=1)
        deleted = Known("a", MediaStatus.DELETED, deletion_started_at=started)
        assert verdict(timedelta(days=2), deleted) is Verdict.LEFT_BEHIND
        # A new upload under the same key after the deletion is a new, unknown object.
        assert verdict(timedelta(hours=1), deleted) is Verdict.UNKNOWN

    @given(
        age=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400)),
        status=st.sampled_from([*list(MediaStatus), None]),
        deadline_offset=st.none()
        | st.timedeltas(min_value=timedelta(days=-60), max_value=timedelta(days=60)),
    )
    def test_nothing_is_deleted_on_the_sweeps_own_judgement_before_every_promise_passed(
        self, age: timedelta, status: MediaStatus | None, deadline_offset: timedelta | None
    ) -> None:
        deadline = NOW + deadline_offset if deadline_offset is not None else None
        known = None if status is None else Known("a", status, deadline, NOW - timedelta(days=1))
        result = verdict(age, known)
        if result is Verdict.ORPHAN:
            assert age > OLDEST_PROMISE
        if result is Verdict.LEFT_BEHIND:
            assert known is not None
            assert known.status is MediaStatus.DELETED


def alarm(alarm_id: str, *media: MediaObject, deadline: datetime | None = None) -> AlarmState:
    return AlarmState(alarm_id, "customer-1", T0, media=media, deadline=deadline)


class Sent:
    def __init__(self) -> None:
        self.findings: list[SweepFindings] = []
        self.completed: list[SweepCompleted] = []
        self.checks: list[tuple[int, list[str]]] = []
        self.slept = 0.0

    async def report(self, raw: bytes) -> None:
        message = INTERNAL_MESSAGE.validate_json(raw)
        if isinstance(message, SweepFindings):
            self.findings.append(message)
        else:
            assert isinstance(message, SweepCompleted)
            self.completed.append(message)

    async def check(self, partition: int, alarm_ids: list[str]) -> None:
        self.checks.append((partition, alarm_ids))

    async def sleep(self, seconds: float) -> None:
        self.slept += seconds

    def outcome(self, key: str) -> tuple[str, str]:
        for findings in self.findings:
            for found in findings.objects:
                if found.key == key:
                    return findings.verdict, found.outcome
        raise AssertionError(f"{key} was not reported")


@pytest.fixture
def world() -> tuple[InMemoryObjectStore, Projection, Sent, Sweeper]:
    store = InMemoryObjectStore()
    projection = Projection(PARTITIONS, POLICY.hold_retention)
    projection.caught_up = True
    sent = Sent()
    sweeper = Sweeper(
        store=store,
        clock=FakeClock(NOW),
        read_model=ProjectionReads(projection),
        policy=POLICY,
        buckets=["media"],
        grace=GRACE,
        keys_per_second=1000,
        report=sent.report,
        ask_for_check=sent.check,
        sleep=sent.sleep,
    )
    return store, projection, sent, sweeper


class TestSweeper:
    async def test_each_kind_of_finding_is_acted_on_and_reported(self, world) -> None:  # type: ignore[no-untyped-def]
        store, projection, sent, sweeper = world
        old = NOW - OLDEST_PROMISE - timedelta(days=1)
        store.put("media", "orphan.jpg", modified=old)
        store.put("media", "young-unknown.jpg", modified=NOW - timedelta(days=8))
        store.put("media", "locked-orphan.jpg", modified=old)
        store.legal_holds.add(("media", "locked-orphan.jpg"))
        store.put("media", "overdue.jpg", modified=NOW - timedelta(days=8))
        store.put("media", "fine.jpg", modified=NOW - timedelta(days=1))
        store.put("media", "left.jpg", modified=NOW - timedelta(days=9))
        projection.apply_state(
            "late-alarm",
            encode_state(
                alarm("late-alarm", MediaObject("media", "overdue.jpg"), deadline=NOW - timedelta(hours=1))
            ),
        )
        projection.apply_state(
            "fine-alarm",
            encode_state(
                alarm("fine-alarm", MediaObject("media", "fine.jpg"), deadline=NOW + timedelta(days=6))
            ),
        )
        gone = MediaObject(
            "media",
            "left.jpg",
            MediaStatus.DELETED,
            deletion_started_at=NOW - timedelta(days=2),
            deleted_at=NOW,
        )
        projection.apply_state("done-alarm", encode_state(alarm("done-alarm", gone)))

        await sweeper.sweep("sweep-1", "tester")

        assert not store.exists("media", "orphan.jpg")
        assert not store.exists("media", "left.jpg")
        for kept in ("young-unknown.jpg", "locked-orphan.jpg", "overdue.jpg", "fine.jpg"):
            assert store.exists("media", kept)
        assert sent.outcome("orphan.jpg") == ("orphan", "deleted")
        assert sent.outcome("young-unknown.jpg") == ("unknown", "reported")
        verdict_of_locked, outcome_of_locked = sent.outcome("locked-orphan.jpg")
        assert verdict_of_locked == "orphan"
        assert outcome_of_locked.startswith("kept: AccessDenied")
        assert sent.outcome("overdue.jpg") == ("overdue", "reported")
        assert sent.outcome("left.jpg") == ("left_behind", "deleted")
        with pytest.raises(AssertionError):
            sent.outcome("fine.jpg")
        assert sent.checks == [(partition_for("late-alarm", PARTITIONS), ["late-alarm"])]
        [summary] = sent.completed
        assert summary.status == "completed"
        assert summary.counts == {
            "listed": 6, "fine": 1, "overdue": 1, "left_behind": 1, "orphan": 2, "unknown": 1,
            "deleted": 2, "kept": 1,
        }  # fmt: skip

    async def test_findings_become_audit_records_naming_the_sweep(self, world) -> None:  # type: ignore[no-untyped-def]
        store, _projection, sent, sweeper = world
        store.put("media", "orphan.jpg", modified=NOW - OLDEST_PROMISE - timedelta(hours=1))
        store.put("media", "new.jpg", modified=NOW)
        await sweeper.sweep("sweep-2", "operator-ann")
        records = [r for f in sent.findings for r in findings_audit(f, NOW)]
        by_type = {r.type: r for r in records}
        assert by_type[AuditType.ORPHAN_DELETED].object_keys() == ["orphan.jpg"]
        assert by_type[AuditType.SWEEP_UNKNOWN_FOUND].object_keys() == ["new.jpg"]
        assert all(r.details["sweep_id"] == "sweep-2" for r in records)
        done = completed_audit(sent.completed[0], NOW)
        assert done.type is AuditType.SWEEP_COMPLETED
        assert done.details["requested_by"] == "operator-ann"
        assert done.details["orphan"] == "1"

    async def test_the_listing_is_paged_and_held_to_the_configured_rate(self, world) -> None:  # type: ignore[no-untyped-def]
        store, _, sent, sweeper = world
        for i in range(2500):
            store.put("media", f"{i:05}.jpg", modified=NOW)
        calls_before = store.calls
        await sweeper.sweep("sweep-3", "tester")
        assert sent.completed[0].counts["listed"] == 2500
        # 2,500 keys at 1,000 a second: the sweep waited for all but the time the work itself took.
        assert sent.slept > 2.0
        assert store.calls - calls_before == 1  # one listing (three pages); nothing deleted

    async def test_an_unreachable_store_ends_the_sweep_as_failed_and_deletes_nothing(self, world) -> None:  # type: ignore[no-untyped-def]
        store, _, sent, sweeper = world
        store.put("media", "orphan.jpg", modified=NOW - OLDEST_PROMISE - timedelta(days=1))
        store.available = False
        await sweeper.sweep("sweep-4", "tester")
        [summary] = sent.completed
        assert summary.status == "failed"
        assert "ConnectionError" in (summary.error or "")
        store.available = True
        assert store.exists("media", "orphan.jpg")

    async def test_only_one_sweep_runs_at_a_time(self, world) -> None:  # type: ignore[no-untyped-def]
        _, _, sent, sweeper = world
        assert sweeper.start("a", "tester") is True
        assert sweeper.start("b", "tester") is False
        while sweeper.running:
            await sweeper._running  # type: ignore[misc]
        assert [c.sweep_id for c in sent.completed] == ["a"]

    async def test_a_read_model_that_never_catches_up_fails_the_sweep_before_any_deletion(
        self, world
    ) -> None:  # type: ignore[no-untyped-def]
        store, projection, sent, sweeper = world
        projection.caught_up = False
        store.put("media", "orphan.jpg", modified=NOW - OLDEST_PROMISE - timedelta(days=1))
        await sweeper.sweep("sweep-5", "tester")
        [summary] = sent.completed
        assert summary.status == "failed"
        assert "read model" in (summary.error or "")
        assert store.exists("media", "orphan.jpg")


class TestFindingsRecordsHaveIdsOfTheirOwn:
    """Readers count audit ids: orphans kept for different reasons are two records, two ids."""

    def test_orphans_kept_for_different_reasons(self) -> None:
        found = [
            FoundObject(bucket="media", key=key, alarm_id=None, last_modified=T0, outcome=why)
            for key, why in (("a.jpg", "kept: legal hold by someone else"), ("b.jpg", "kept: access denied"))
        ]
        findings = SweepFindings(
            event_id="page-1", sweep_id="sweep-1", verdict=Verdict.ORPHAN.value, objects=tuple(found)
        )
        records = findings_audit(findings, T0)
        assert len(records) == 2
        assert len({r.audit_id for r in records}) == 2
