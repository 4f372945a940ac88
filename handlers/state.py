"""What the service knows about one alarm: its media, its holds, and when the media must go.

Plain frozen dataclasses rather than pydantic models: a worker keeps hundreds of thousands of these in
memory, and they are only ever built by this package or read back from our own changelog.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

STATE_FORMAT = 1


class MediaStatus(StrEnum):
    PENDING = "pending"  # stored, waiting for its deadline
    DELETING = "deleting"  # the deadline passed and the deletion was handed to the object store
    DELETED = "deleted"  # the object store confirmed every version is gone


class Rule(StrEnum):
    """Which promise of the privacy statement set a deadline (see ../shared/seed/retention-rules.md)."""

    MEDIA_RETENTION = "R1"  # 7 days after the alarm
    HOLD_LIMIT = "R2"  # kept for the police, at most 30 days after the alarm
    CONTRACT_END = "R3"  # the customer's data goes when the contract ends


@dataclass(frozen=True, slots=True)
class MediaObject:
    bucket: str
    key: str
    status: MediaStatus = MediaStatus.PENDING
    added_by: str = ""  # event_id that told us about the object
    due_at: datetime | None = None  # the deadline that applied when its deletion began
    due_rule: Rule | None = None  # and the rule that set it
    deletion_started_at: datetime | None = None
    deleted_at: datetime | None = None

    @property
    def ref(self) -> tuple[str, str]:
        return (self.bucket, self.key)


@dataclass(frozen=True, slots=True)
class Hold:
    """A police hold. A release can arrive before its placement (topics reorder); then the placement
    fields are empty until it comes, and the hold never becomes active."""

    hold_id: str
    case_reference: str | None = None
    placed_by: str | None = None
    placed_at: datetime | None = None
    placed_event_id: str | None = None
    released_at: datetime | None = None
    released_by: str | None = None
    released_event_id: str | None = None

    @property
    def active(self) -> bool:
        return self.placed_at is not None and self.released_at is None


@dataclass(frozen=True, slots=True)
class AlarmState:
    alarm_id: str
    customer_id: str | None = None  # None while only holds for the alarm have arrived
    triggered_at: datetime | None = None
    media: tuple[MediaObject, ...] = ()
    holds: tuple[Hold, ...] = ()
    contract_ended_at: datetime | None = None
    deadline: datetime | None = None  # when the pending media must go; None when nothing is pending
    deadline_rule: Rule | None = None
    deadline_cause: str | None = None  # event_id of the event that set the deadline
    hold_warning_sent: bool = False

    @property
    def pending(self) -> tuple[MediaObject, ...]:
        return tuple(m for m in self.media if m.status is MediaStatus.PENDING)

    @property
    def deleting(self) -> tuple[MediaObject, ...]:
        return tuple(m for m in self.media if m.status is MediaStatus.DELETING)

    @property
    def active_holds(self) -> tuple[Hold, ...]:
        return tuple(h for h in self.holds if h.active)

    def find_media(self, bucket: str, key: str) -> MediaObject | None:
        for media in self.media:
            if media.bucket == bucket and media.key == key:
                return media
        return None

    def with_media(self, updated: dict[tuple[str, str], MediaObject]) -> AlarmState:
        return replace(self, media=tuple(updated.get(m.ref, m) for m in self.media))


# --- the changelog format -------------------------------------------------------------------------


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


def encode_state(state: AlarmState) -> bytes:
    document = {
        "v": STATE_FORMAT,
        "alarm_id": state.alarm_id,
        "customer_id": state.customer_id,
        "triggered_at": _time(state.triggered_at),
        "media": [
            [
                m.bucket,
                m.key,
                m.status.value,
                m.added_by,
                _time(m.due_at),
                m.due_rule.value if m.due_rule else None,
                _time(m.deletion_started_at),
                _time(m.deleted_at),
            ]
            for m in state.media
        ],
        "holds": [
            {
                "hold_id": h.hold_id,
                "case_reference": h.case_reference,
                "placed_by": h.placed_by,
                "placed_at": _time(h.placed_at),
                "placed_event_id": h.placed_event_id,
                "released_at": _time(h.released_at),
                "released_by": h.released_by,
                "released_event_id": h.released_event_id,
            }
            for h in state.holds
        ],
        "contract_ended_at": _time(state.contract_ended_at),
        "deadline": _time(state.deadline),
        "deadline_rule": state.deadline_rule.value if state.deadline_rule else None,
        "deadline_cause": state.deadline_cause,
        "hold_warning_sent": state.hold_warning_sent,
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def decode_state(raw: bytes) -> AlarmState:
    document = json.loads(raw)
    if document.get("v") != STATE_FORMAT:
        raise ValueError(f"unknown alarm state format {document.get('v')!r}")
    return AlarmState(
        alarm_id=document["alarm_id"],
        customer_id=document["customer_id"],
        triggered_at=_parse_time(document["triggered_at"]),
        media=tuple(
            MediaObject(
                bucket=bucket,
                key=key,
                status=MediaStatus(status),
                added_by=added_by,
                due_at=_parse_time(due),
                due_rule=Rule(rule) if rule else None,
                deletion_started_at=_parse_time(started),
                deleted_at=_parse_time(deleted),
            )
            for bucket, key, status, added_by, due, rule, started, deleted in document["media"]
        ),
        holds=tuple(
            Hold(
                hold_id=h["hold_id"],
                case_reference=h["case_reference"],
                placed_by=h["placed_by"],
                placed_at=_parse_time(h["placed_at"]),
                placed_event_id=h["placed_event_id"],
                released_at=_parse_time(h["released_at"]),
                released_by=h["released_by"],
                released_event_id=h["released_event_id"],
            )
            for h in document["holds"]
        ),
        contract_ended_at=_parse_time(document["contract_ended_at"]),
        deadline=_parse_time(document["deadline"]),
        deadline_rule=Rule(document["deadline_rule"]) if document["deadline_rule"] else None,
        deadline_cause=document["deadline_cause"],
        hold_warning_sent=document["hold_warning_sent"],
    )
