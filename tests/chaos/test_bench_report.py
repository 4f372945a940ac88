"""The harnesses' own rules, without a stack: percentiles only where the sample supports them, the README's
performance table is the committed full run's, and the chaos checks judge by the bucket, not by the
service's records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bench.harness import percentile, spread
from bench.report import LATEST_FULL, README, latest_full, markdown, readme_block
from chaos.check import Report, Watched, check
from chaos.load import AlarmPlan, Plan


@pytest.mark.parametrize(
    ("n", "labels"),
    [
        (1, ["the only value"]),
        (10, ["p50", "max"]),
        (19, ["p50", "max"]),
        (20, ["p50", "p95", "max"]),
        (99, ["p50", "p95", "max"]),
        (100, ["p50", "p95", "p99", "max"]),
    ],
)
def test_percentiles_only_where_the_sample_supports_them(n: int, labels: list[str]) -> None:
    values = [float(v) for v in range(1, n + 1)]
    found = spread(values)
    assert [label for label, _ in found] == labels
    assert found[-1][1] == n
    for label, value in found:
        if label.startswith("p"):
            assert value < n, f"{label} of {n} values is the maximum"


def test_a_percentile_refuses_a_sample_too_small_for_it() -> None:
    with pytest.raises(ValueError, match="at least 100"):
        percentile([1.0] * 50, 0.99)
    assert percentile([float(v) for v in range(1, 101)], 0.99) == 99
    assert percentile([float(v) for v in range(1, 21)], 0.95) == 19
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2


def test_the_readme_performance_table_is_the_committed_full_run() -> None:
    run = latest_full()
    assert run["machine"]["mode"] == "full"
    assert "only" not in run["machine"], "the README's table must come from a run of every scenario"
    assert LATEST_FULL.with_suffix(".md").read_text() == markdown(run)
    assert readme_block(run) in README.read_text(), "run python -m bench --readme"


T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
RETENTION = timedelta(seconds=15)


def _one_alarm() -> Plan:
    plan = Plan(retention=RETENTION, hold_limit=timedelta(seconds=45))
    plan.alarms["a"] = AlarmPlan("a", "c", T0, ["a/0.jpg"])
    return plan


def _audit(kind: str, occurred_at: datetime) -> dict[str, Any]:
    return {
        "type": kind,
        "alarm_id": "a",
        "occurred_at": occurred_at.isoformat(),
        "objects": [{"bucket": "b", "key": "a/0.jpg"}],
    }


SCHEDULED = _audit("media.deletion_scheduled", T0)


def _deleted(occurred_at: datetime) -> list[dict[str, Any]]:
    return [SCHEDULED, _audit("media.deleted", occurred_at)]


def _check(
    audit: list[dict[str, Any]], gone_at: datetime, outages: list[tuple[datetime, datetime]] | None = None
) -> Report:
    watched = Watched({"a/0.jpg": gone_at}, {"a/0.jpg": gone_at - timedelta(seconds=0.25)}, 0.25)
    bound = timedelta(seconds=30)
    return check("s", _one_alarm(), audit, set(), T0 + timedelta(minutes=5), bound, watched, outages or [])


def test_premature_is_judged_by_when_the_bucket_lost_the_object() -> None:
    # The service stamped the deletion after the deadline (a successor worker does), but the bucket
    # lost the object two seconds before it.
    report = _check(_deleted(T0 + RETENTION + timedelta(seconds=5)), T0 + RETENTION - timedelta(seconds=2))
    assert report.premature == 1
    # A late stamp on a deletion that really happened on time is no problem.
    report = _check(_deleted(T0 + RETENTION + timedelta(seconds=20)), T0 + RETENTION + timedelta(seconds=0.2))
    assert (report.premature, report.overdue, report.problems) == (0, 0, [])


def test_overdue_is_judged_by_when_the_bucket_lost_the_object() -> None:
    report = _check(_deleted(T0 + RETENTION), T0 + RETENTION + timedelta(seconds=31))
    assert report.overdue == 1
    assert report.max_lateness_seconds == pytest.approx(31)


def test_time_no_worker_ran_after_the_deadline_extends_the_bound_and_only_that() -> None:
    due = T0 + RETENTION
    gone = due + timedelta(seconds=45)
    # Down 20 s starting 5 s after the deadline: 30 + 20 s allowed, 45 s late is fine.
    assert (
        _check(_deleted(gone), gone, [(due + timedelta(seconds=5), due + timedelta(seconds=25))]).overdue == 0
    )
    # An outage before the deadline excuses nothing, and one after the object went neither.
    before_and_after = [(due - timedelta(seconds=30), due), (gone, gone + timedelta(seconds=60))]
    assert _check(_deleted(gone), gone, before_and_after).overdue == 1


def test_a_deletion_without_its_audit_record_is_reported() -> None:
    report = _check([SCHEDULED], T0 + RETENTION + timedelta(seconds=0.2))
    assert report.problems == ["a/0.jpg gone from the bucket, but no media.deleted names it"]
    assert report.audit_missing == 1
    assert not report.passed


def test_an_object_never_reported_scheduled_is_reported() -> None:
    report = _check([_audit("media.deleted", T0 + RETENTION)], T0 + RETENTION + timedelta(seconds=0.2))
    assert report.problems == ["a/0.jpg: no media.deletion_scheduled names it"]
    assert report.audit_missing == 1
    assert not report.passed


def _held_and_released(released_after: timedelta) -> Plan:
    plan = _one_alarm()
    alarm = plan.alarms["a"]
    alarm.hold_id, alarm.hold_acked_at = "h", T0 + timedelta(seconds=1)
    alarm.hold_released_at = T0 + RETENTION + released_after
    return plan


def test_a_hold_released_before_its_alarm_was_seen_still_keeps_the_media_until_the_release() -> None:
    dropped = {"type": "hold.dropped", "hold_id": "h", "details": {"reason": "released_before_alarm_seen"}}
    plan = _held_and_released(timedelta(seconds=20))
    release = T0 + RETENTION + timedelta(seconds=20)
    audit = [dropped, *_deleted(release)]
    now = T0 + timedelta(minutes=5)
    on_time = Watched({"a/0.jpg": release + timedelta(seconds=1)}, {"a/0.jpg": release}, 0.25)
    report = check("s", plan, audit, set(), now, timedelta(seconds=30), on_time)
    assert report.problems == []
    assert report.holds_dropped_before_alarm == 1
    early = Watched({"a/0.jpg": release - timedelta(seconds=5)}, {"a/0.jpg": T0}, 0.25)
    report = check("s", plan, audit, set(), now, timedelta(seconds=30), early)
    assert report.held_deleted == 1
    assert not report.passed
