"""After a fault: compare what was sent with what the service did, against the policy's invariants."""

from __future__ import annotations

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
    deletions_done: int = 0
    premature: int = 0  # deleted before the deadline the service knew of: must be 0
    held_deleted: int = 0  # seen gone from the bucket while a hold sent in good time kept it: must be 0
    overdue_at_end: int = 0  # past the bound and still in the bucket: must be 0
    holds_sent: int = 0
    holds_unanswered: int = 0  # must be 0
    recovery_seconds: float | None = None  # from the end of the fault to the service catching up
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not (
            self.premature
            or self.held_deleted
            or self.overdue_at_end
            or self.holds_unanswered
            or self.problems
        )


HOLD_IN_GOOD_TIME = timedelta(seconds=1)  # a hold placed this long before the deadline must be honoured


def check(
    scenario: str,
    plan: Plan,
    audit: list[dict[str, Any]],
    still_there: set[str],
    now: datetime,
    bound: timedelta,
    gone_at: dict[str, datetime] | None = None,
) -> Report:
    """`still_there`: the keys of the plan's objects that are still in the bucket. `gone_at`: when the
    harness, watching the bucket, first saw each object gone (the world's account, not the service's)."""
    report = Report(scenario, events_sent=plan.events_sent)
    answers = _hold_answers(audit)
    deleted = _deleted_at(audit)
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
            elif answer["type"] == "hold.rejected" and datetime.fromisoformat(answer["occurred_at"]) < base:
                # Refused as too late is only right if the service saw it at or after the deadline.
                report.problems.append(f"hold {alarm.hold_id} rejected before the deadline {base}")
        kept_until = _held_until(plan, alarm, base)
        for key in alarm.keys:
            seen_gone = (gone_at or {}).get(key)
            if kept_until is not None and seen_gone is not None and seen_gone < kept_until:
                report.held_deleted += 1
                report.problems.append(
                    f"{key} held until {kept_until} but gone from the bucket at {seen_gone}"
                )
            when = deleted.get((alarm.alarm_id, key))
            if when is not None:
                report.deletions_done += 1
                if when < due:
                    report.premature += 1
                    report.problems.append(f"{key} deleted at {when}, before {due}")
            if due <= now - bound:
                report.deletions_expected += 1
                if key in still_there:
                    report.overdue_at_end += 1
                    report.problems.append(f"{key} still there, due {due}")
    return report


def _base_due(plan: Plan, alarm: AlarmPlan) -> datetime:
    due = alarm.triggered_at + plan.retention
    ended = plan.contract_ends.get(alarm.customer_id)
    return min(due, ended) if ended is not None else due


def _held_until(plan: Plan, alarm: AlarmPlan, base: datetime) -> datetime | None:
    """Until when a hold sent in good time (by what was sent, not by the service's answer) keeps the
    alarm's media; None when it has no such hold."""
    if alarm.hold_placed_at is None or alarm.hold_placed_at > base - HOLD_IN_GOOD_TIME:
        return None
    limit = alarm.triggered_at + plan.hold_limit
    return min(alarm.hold_released_at or limit, limit)


def _hold_answers(audit: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    answers: dict[str, dict[str, Any]] = {}
    for record in audit:
        if record["type"] in ("hold.accepted", "hold.rejected", "hold.dropped") and record.get("hold_id"):
            answers.setdefault(record["hold_id"], record)
    return answers


def _deleted_at(audit: list[dict[str, Any]]) -> dict[tuple[str, str], datetime]:
    deleted: dict[tuple[str, str], datetime] = {}
    for record in audit:
        if record["type"] == "media.deleted":
            for item in record.get("objects", []):
                deleted.setdefault(
                    (record["alarm_id"], item["key"]), datetime.fromisoformat(record["occurred_at"])
                )
    return deleted


def table(reports: list[Report]) -> str:
    lines = [
        "| Scenario | Events sent | Objects | Deletions expected | Done | Premature | Held deleted "
        "| Overdue at end | Holds (unanswered) | Recovery | Passed |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in reports:
        recovery = f"{r.recovery_seconds:.1f} s" if r.recovery_seconds is not None else ""
        lines.append(
            f"| {r.scenario} | {r.events_sent} | {r.objects} | {r.deletions_expected} | {r.deletions_done} | "
            f"{r.premature} | {r.held_deleted} | {r.overdue_at_end} | "
            f"{r.holds_sent} ({r.holds_unanswered}) | {recovery} | "
            f"{'yes' if r.passed else '**no**'} |"
        )
    return "\n".join(lines) + "\n"
