"""The reconciliation sweep's judgement of what it finds in a media bucket, and how it is audited.

A safety net for events that never arrived or a broker that lost data: compare what is in the bucket
with what the service knows. It never deletes on its own judgement anything younger than the hold
limit plus a grace period: an object the service never heard of may belong to an alarm whose events
are still on their way, or to evidence under a hold we have not heard of; once it is older than every
promise of the statement allows, it goes. Objects of alarms the service knows are left to the stream,
which decides in order with the holds; the sweep only reminds it (overdue) or finishes a deletion it
already confirmed (left behind).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from handlers.audit import AuditRecord, AuditType, audit_record
from handlers.commands import SweepCompleted, SweepFindings
from handlers.policy import RetentionPolicy
from handlers.state import AlarmState, MediaStatus


class Verdict(StrEnum):
    FINE = "fine"  # known, and not past its deadline (or held)
    OVERDUE = "overdue"  # known, pending, past its deadline: the stream is asked to look at the alarm
    LEFT_BEHIND = "left_behind"  # confirmed deleted, yet an older version is still there: delete again
    ORPHAN = "orphan"  # unknown and older than the hold limit plus grace: delete
    UNKNOWN = "unknown"  # unknown and younger: report only


@dataclass(frozen=True, slots=True)
class Known:
    alarm_id: str
    status: MediaStatus
    deadline: datetime | None = None  # of pending media
    deletion_started_at: datetime | None = None


def known_media(state: AlarmState) -> Iterable[tuple[str, str, Known]]:
    """(bucket, key, what we know) for every media object of an alarm."""
    for media in state.media:
        yield (
            media.bucket,
            media.key,
            Known(state.alarm_id, media.status, state.deadline, media.deletion_started_at),
        )


def judge(
    last_modified: datetime,
    known: Known | None,
    now: datetime,
    policy: RetentionPolicy,
    grace: timedelta,
    overdue_after: timedelta,
) -> Verdict:
    if known is not None and known.status is MediaStatus.DELETED:
        started = known.deletion_started_at
        if started is not None and last_modified <= started:
            return Verdict.LEFT_BEHIND
        known = None  # uploaded again under the same key after we deleted it: judge it as unknown
    if known is None:
        oldest_promise = max(policy.hold_retention, policy.media_retention) + grace
        return Verdict.ORPHAN if last_modified < now - oldest_promise else Verdict.UNKNOWN
    if known.status is MediaStatus.PENDING:
        overdue = known.deadline is not None and known.deadline < now - overdue_after
        return Verdict.OVERDUE if overdue else Verdict.FINE
    return Verdict.FINE  # being deleted: the deleter is on it and retries until it succeeds


# --- the audit records of a sweep -----------------------------------------------------------------

_FINDING_TYPES = {
    (Verdict.ORPHAN, "deleted"): AuditType.ORPHAN_DELETED,
    (Verdict.ORPHAN, "kept"): AuditType.SWEEP_ORPHAN_KEPT,
    (Verdict.LEFT_BEHIND, "deleted"): AuditType.SWEEP_LEFT_BEHIND_DELETED,
    (Verdict.LEFT_BEHIND, "kept"): AuditType.SWEEP_LEFT_BEHIND_KEPT,
    (Verdict.OVERDUE, "reported"): AuditType.SWEEP_OVERDUE_FOUND,
    (Verdict.UNKNOWN, "reported"): AuditType.SWEEP_UNKNOWN_FOUND,
}


def findings_audit(findings: SweepFindings, now: datetime) -> list[AuditRecord]:
    """One record per alarm (or, for objects of no known alarm, per outcome and reason)."""
    groups: dict[tuple[AuditType, str | None, str], list[tuple[str, str]]] = {}
    oldest: dict[tuple[AuditType, str | None, str], datetime] = {}
    for found in findings.objects:
        outcome = "kept" if found.outcome.startswith("kept") else found.outcome
        audit_type = _FINDING_TYPES[(Verdict(findings.verdict), outcome)]
        group = (audit_type, found.alarm_id, found.outcome)
        groups.setdefault(group, []).append((found.bucket, found.key))
        oldest[group] = min(oldest.get(group, found.last_modified), found.last_modified)
    return [
        audit_record(
            audit_type,
            occurred_at=now,
            alarm_id=alarm_id,
            customer_id=None,
            caused_by=findings.event_id,
            objects=refs,
            details={
                "sweep_id": findings.sweep_id,
                "outcome": outcome,
                "oldest_last_modified": oldest[(audit_type, alarm_id, outcome)].isoformat(),
            },
        )
        for (audit_type, alarm_id, outcome), refs in groups.items()
    ]


def completed_audit(summary: SweepCompleted, now: datetime) -> AuditRecord:
    details = {
        "sweep_id": summary.sweep_id,
        "requested_by": summary.requested_by,
        "started_at": summary.started_at.isoformat(),
        "finished_at": summary.finished_at.isoformat(),
        "status": summary.status,
        **{name: str(count) for name, count in sorted(summary.counts.items())},
    }
    if summary.error:
        details["error"] = summary.error
    return audit_record(
        AuditType.SWEEP_COMPLETED,
        occurred_at=now,
        alarm_id=None,
        customer_id=None,
        caused_by=summary.event_id,
        details=details,
    )
