"""The object store confirmed deletions: record them, once each."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from handlers.after_end import on_deleted_after_end
from handlers.audit import AuditType
from handlers.policy import Change, Outcome, RetentionPolicy, record, settle
from handlers.state import AlarmState, MediaObject, MediaStatus, Rule


def on_objects_deleted(
    state: AlarmState | None,
    deleted: Iterable[tuple[str, str]],
    deleted_at: datetime,
    cause: str,
    policy: RetentionPolicy,
    *,
    deletions_allowed: bool = True,
) -> Outcome | None:
    """Every version of these objects is gone."""
    if state is None:
        return None
    if state.ended:
        return on_deleted_after_end(state, deleted, deleted_at, cause)
    change = Change(state, state, cause)
    updated: dict[tuple[str, str], MediaObject] = {}
    for bucket, key in deleted:
        media = state.find_media(bucket, key)
        if media is None or media.status is MediaStatus.DELETED or (bucket, key) in updated:
            continue  # a redelivered confirmation changes nothing
        updated[(bucket, key)] = replace(media, status=MediaStatus.DELETED, deleted_at=deleted_at)
    if not updated:
        return Outcome(state)
    # One record per deadline the objects had (almost always one: an alarm's media share it).
    by_deadline: dict[tuple[datetime | None, Rule | None], list[MediaObject]] = {}
    for ref in updated:
        before = state.find_media(*ref)
        assert before is not None
        by_deadline.setdefault((before.due_at, before.due_rule), []).append(updated[ref])
    for (due_at, due_rule), objects in by_deadline.items():
        change.audit.append(
            record(
                AuditType.DELETED,
                state,
                deleted_at,
                cause,
                media=objects,
                deadline=due_at,
                rule=due_rule,
                details=_lateness(due_at, deleted_at),
            )
        )
    change.state = state.with_media(updated)
    return settle(change, deleted_at, policy, deletions_allowed=deletions_allowed)


def _lateness(due_at: datetime | None, deleted_at: datetime) -> dict[str, str]:
    if due_at is None:
        return {}
    return {"lateness_seconds": f"{(deleted_at - due_at).total_seconds():.3f}"}
