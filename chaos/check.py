"""After a fault: compare what was sent with what the service did, against the policy's invariants."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from chaos.load import AlarmPlan, Plan


@dataclass
class Report:
    scenario: str
    events_sent: int = 0
    objects: int = 0
    deletions_expected: int = 0
    deletions_done: int = 0  # seen gone from the bucket (every version), whatever the audit trail says
    premature: int = 0  # seen gone from the bucket before its deadline: must be 0
    held_deleted: int = 0  # seen gone while a hold the broker had in good time kept it: must be 0
    overdue: int = 0  # seen gone more than the bound after its deadline, or still there past it: must be 0
    holds_sent: int = 0
    holds_unanswered: int = 0  # must be 0
    # holds whose release reached the alarm before the alarm event did (after a restart): answered
    # hold.dropped; their media must still stay until the release (counted in held_deleted otherwise)
    holds_dropped_before_alarm: int = 0
    # holds the service could act on only after their hold limit had passed (an outage longer than the
    # rig's short limit): answered hold.rejected retention_limit_passed, as R2 requires
    holds_after_their_limit: int = 0
    # objects whose media.deletion_scheduled, or (once seen gone) media.deleted, is not on the audit
    # topic: the proof of what the service did, lost. Must be 0.
    audit_missing: int = 0
    max_lateness_seconds: float | None = None  # the latest an object was seen gone after its deadline
    reported_seconds: float | None = None  # from the fault to /health and the metric saying so
    recovery_seconds: float | None = None  # from the end of the fault to the service catching up
    watch_seconds: float | None = None  # how often the bucket was listed: the resolution of the times
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not (
            self.premature
            or self.held_deleted
            or self.overdue
            or self.holds_unanswered
            or self.audit_missing
            or self.problems
        )


@dataclass
class Watched:
    """What the harness saw of the bucket: when each object was first listed gone (no version or delete
    marker left) and last listed present; a listing every `every` seconds."""

    gone_at: dict[str, datetime]
    present_at: dict[str, datetime]
    every: float


HOLD_IN_GOOD_TIME = timedelta(seconds=1)  # a hold the broker has this long before the deadline must win


def check(
    scenario: str,
    plan: Plan,
    audit: list[dict[str, Any]],
    still_there: set[str],
    now: datetime,
    bound: timedelta,
    watched: Watched,
    outages: Sequence[tuple[datetime, datetime]] = (),
) -> Report:
    """Judged by the bucket: `still_there` are the plan's keys left in it at `now` (every version
    listed); `watched` says when the harness saw each object go. The service's audit trail decides only
    which deadline applies (a hold accepted or not) and is checked against the bucket; its times are not
    used: a worker that takes over stamps a deletion later than it happened. `outages`: when no worker
    ran (from a kill to the next worker ready): an object may be late by `bound` plus the time of them
    that falls between its deadline and its going (a deadline that passes during several restarts in a
    row waits for all of them)."""
    report = Report(scenario, events_sent=plan.events_sent, watch_seconds=watched.every)
    answers = _hold_answers(audit)
    recorded = _recorded(audit, "media.deleted")
    scheduled = _recorded(audit, "media.deletion_scheduled")
    latest: float | None = None
    for alarm in plan.alarms.values():
        report.objects += len(alarm.keys)
        base = _base_due(plan, alarm)
        due = base
        if alarm.hold_id is not None:
            report.holds_sent += 1
            answer = answers.get(alarm.hold_id)
            if answer is None:
                report.holds_unanswered += 1
                report.problems.append(f"hold {alarm.hold_id} of {alarm.alarm_id} has no answer")
            elif answer["type"] == "hold.accepted":
                limit = alarm.triggered_at + plan.hold_limit
                due = min(max(base, alarm.hold_released_at or limit), limit)
            elif _released_first(answer, alarm):
                # After a restart the backlogs of police-holds and alarm-events are re-keyed in no
                # particular order across the two topics: the hold and its release can reach the alarm
                # before the alarm event does. The media must still be kept until the release, which
                # the bucket judges below (held deleted); the answer says what the service saw.
                report.holds_dropped_before_alarm += 1
                limit = alarm.triggered_at + plan.hold_limit
                assert alarm.hold_released_at is not None
                due = min(max(base, alarm.hold_released_at), limit)
            elif _limit_passed_first(answer, plan, alarm):
                # The service could act on the hold only after the hold limit (R2: never kept longer,
                # whatever the police want): it had been away for longer than the rig's short limit.
                report.holds_after_their_limit += 1
            elif alarm.hold_acked_at is not None and alarm.hold_acked_at <= base - HOLD_IN_GOOD_TIME:
                report.problems.append(
                    f"hold {alarm.hold_id} answered {answer['type']} although the broker had it at "
                    f"{alarm.hold_acked_at}, before the deadline {base}"
                )
        kept_until = _held_until(plan, alarm, base)
        for key in alarm.keys:
            seen_gone = watched.gone_at.get(key)
            there = key in still_there
            if seen_gone is None and not there:
                report.problems.append(f"{key} not in the bucket, but never seen going")
            if seen_gone is not None and there:
                report.problems.append(f"{key} seen gone at {seen_gone}, but in the bucket again")
            if kept_until is not None and seen_gone is not None and seen_gone < kept_until:
                report.held_deleted += 1
                report.problems.append(
                    f"{key} held until {kept_until} but gone from the bucket at {seen_gone}"
                )
            if seen_gone is not None:
                report.deletions_done += 1
                late = (seen_gone - due).total_seconds()
                latest = late if latest is None else max(latest, late)
                if seen_gone < due:
                    report.premature += 1
                    report.problems.append(f"{key} gone from the bucket at {seen_gone}, before {due}")
                elif seen_gone - due > bound + _down_between(outages, due, seen_gone):
                    report.overdue += 1
                    report.problems.append(f"{key} gone from the bucket at {seen_gone}, due {due}")
            if (alarm.alarm_id, key) in recorded and there:
                report.problems.append(f"{key} recorded as deleted, but still in the bucket")
            if (alarm.alarm_id, key) not in scheduled:
                report.audit_missing += 1
                report.problems.append(f"{key}: no media.deletion_scheduled names it")
            if seen_gone is not None and (alarm.alarm_id, key) not in recorded:
                report.audit_missing += 1
                report.problems.append(f"{key} gone from the bucket, but no media.deleted names it")
            if due <= now:
                report.deletions_expected += 1
            if there and due <= now - bound - _down_between(outages, due, now):
                report.overdue += 1
                report.problems.append(f"{key} still there, due {due}")
    report.max_lateness_seconds = latest
    return report


def _down_between(outages: Sequence[tuple[datetime, datetime]], start: datetime, end: datetime) -> timedelta:
    """How much of [start, end] fell in the outages."""
    down = timedelta(0)
    for began, ended in outages:
        overlap = min(end, ended) - max(start, began)
        if overlap > timedelta(0):
            down += overlap
    return down


def _limit_passed_first(answer: dict[str, Any], plan: Plan, alarm: AlarmPlan) -> bool:
    return (
        answer["type"] == "hold.rejected"
        and answer.get("details", {}).get("reason") == "retention_limit_passed"
        and datetime.fromisoformat(answer["occurred_at"]) >= alarm.triggered_at + plan.hold_limit
    )


def _released_first(answer: dict[str, Any], alarm: AlarmPlan) -> bool:
    return (
        answer["type"] == "hold.dropped"
        and answer.get("details", {}).get("reason") == "released_before_alarm_seen"
        and alarm.hold_released_at is not None
    )


def _base_due(plan: Plan, alarm: AlarmPlan) -> datetime:
    due = alarm.triggered_at + plan.retention
    ended = plan.contract_ends.get(alarm.customer_id)
    return min(due, ended) if ended is not None else due


def _held_until(plan: Plan, alarm: AlarmPlan, base: datetime) -> datetime | None:
    """Until when a hold the broker had in good time (by what was sent and acknowledged, not by the
    service's answer) keeps the alarm's media; None when it has no such hold."""
    if alarm.hold_acked_at is None or alarm.hold_acked_at > base - HOLD_IN_GOOD_TIME:
        return None
    limit = alarm.triggered_at + plan.hold_limit
    return min(alarm.hold_released_at or limit, limit)


def _hold_answers(audit: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    answers: dict[str, dict[str, Any]] = {}
    for record in audit:
        if record["type"] in ("hold.accepted", "hold.rejected", "hold.dropped") and record.get("hold_id"):
            answers.setdefault(record["hold_id"], record)
    return answers


def _recorded(audit: list[dict[str, Any]], kind: str) -> set[tuple[str, str]]:
    """The objects audit records of one kind name (checked against the bucket, never trusted)."""
    return {
        (record["alarm_id"], item["key"])
        for record in audit
        if record["type"] == kind
        for item in record.get("objects", [])
    }


def table(reports: list[Report]) -> str:
    lines = [
        "| Scenario | Events sent | Objects | Deletions expected | Done (seen gone) | Premature "
        "| Held deleted | Overdue | Max lateness | Holds (unanswered) | Audit records missing "
        "| Fault reported | Recovery | Passed |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in reports:
        lines.append(
            f"| {r.scenario} | {r.events_sent} | {r.objects} | {r.deletions_expected} | {r.deletions_done} | "
            f"{r.premature} | {r.held_deleted} | {r.overdue} | {_seconds(r.max_lateness_seconds)} | "
            f"{r.holds_sent} ({r.holds_unanswered}) | {r.audit_missing} | {_seconds(r.reported_seconds)} | "
            f"{_seconds(r.recovery_seconds)} | {'yes' if r.passed else '**no**'} |"
        )
    every = sorted({r.watch_seconds for r in reports if r.watch_seconds is not None})
    if every:
        lines += [
            "",
            "Times are when the harness saw each object go, listing every version in the bucket every "
            f"{', '.join(f'{e:g}' for e in every)} s (the resolution); lateness is from the deadline the "
            "load implies (triggered_at + retention, the contract end, or the hold's release or limit).",
        ]
    return "\n".join(lines) + "\n"


def _seconds(value: float | None) -> str:
    return f"{value:.1f} s" if value is not None else ""
