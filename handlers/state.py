"""What the service knows about one alarm: its media, its holds, and when the media must go.

Plain frozen dataclasses rather than pydantic models: a worker keeps hundreds of thousands of these in
memory. pydantic still reads and writes them for the changelog (a few microseconds each).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from pydantic import TypeAdapter, ValidationError

from handlers.audit import AuditRecord

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
    ERASURE_REQUEST = "Art17"  # the customer asked for erasure (GDPR Art. 17)


@dataclass(frozen=True, slots=True)
class MediaObject:
    bucket: str
    key: str
    status: MediaStatus = MediaStatus.PENDING
    added_by: str = ""  # event_id that told us about the object
    # True while the service wants an S3 Object Lock legal hold on the object's versions (a police
    # hold is active); buckets without Object Lock ignore it.
    legal_hold: bool = False
    due_at: datetime | None = None  # the deadline that applied when its deletion began
    due_rule: Rule | None = None  # and the rule that set it
    deletion_started_at: datetime | None = None
    deleted_at: datetime | None = None

    @property
    def ref(self) -> tuple[str, str]:
        return (self.bucket, self.key)


@dataclass(frozen=True, slots=True)
class Hold:
    """A police hold. A release can arrive before its placement (topics reorder): then the placement
    fields stay empty until it comes, and the hold never becomes active."""

    hold_id: str
    case_reference: str | None = None
    unit: str | None = None  # the police unit that placed it; only its liaisons see it
    placed_by: str | None = None
    requested_by: str | None = None
    placed_at: datetime | None = None
    placed_event_id: str | None = None
    released_at: datetime | None = None
    released_by: str | None = None
    released_event_id: str | None = None
    expired_at: datetime | None = None  # the hold limit (R2) was reached while it was active
    dropped_at: datetime | None = None  # its alarm never arrived within the hold limit
    # When the service recorded this hold's latest placement or release, by its own clock: a record of
    # holds for an alarm never seen ends counted from it (handlers/record_end.py), never only from the
    # times the events carry, which may lie long before their delivery.
    recorded_at: datetime | None = None
    rejected_reason: str | None = None  # it came too late to keep anything
    # event_id of the event whose processing answered the hold (accepted or rejected): when that event
    # is delivered again, the answer is published again (same audit id), since the first may be lost.
    answered_by: str | None = None

    @property
    def placed(self) -> bool:
        return self.placed_at is not None

    @property
    def accepted(self) -> bool:
        """It kept (or keeps, or would keep) the alarm's media at some point."""
        return self.placed and self.rejected_reason is None and self.dropped_at is None

    @property
    def active(self) -> bool:
        return self.accepted and self.released_at is None and self.expired_at is None

    @property
    def ended_at(self) -> datetime | None:
        """When an accepted hold stopped keeping the media."""
        return self.released_at or self.expired_at


@dataclass(frozen=True, slots=True)
class Disclosure:
    """Media handed over to the police for a hold (handlers/disclosure.py): what went, to whom, when, on
    which legal basis. The customer's access answer lists it (the right to know what was passed on)."""

    handover_id: str
    hold_id: str
    recipient: str  # the category of recipient, as the privacy statement names it
    unit: str | None  # the police unit that collected it
    objects: tuple[tuple[str, str], ...]  # (bucket, key)
    disclosed_at: datetime
    legal_basis: str
    manifest_sha256: str


@dataclass(frozen=True, slots=True)
class AlarmState:
    alarm_id: str
    customer_id: str | None = None  # None while only holds for the alarm have arrived
    triggered_at: datetime | None = None
    media: tuple[MediaObject, ...] = ()
    holds: tuple[Hold, ...] = ()
    contract_ended_at: datetime | None = None
    contract_ended_by: str | None = None  # event_id of the contract.ended event
    deadline: datetime | None = None  # when the pending media must go; None when nothing is pending
    deadline_rule: Rule | None = None
    deadline_cause: str | None = None  # event_id of the event that set the deadline
    hold_warning_sent: bool = False
    erasure_requested_at: datetime | None = None  # the customer asked for erasure (GDPR Art. 17)
    erasure_requested_by: str | None = None  # event_id of the request
    restricted_at: datetime | None = None  # processing restricted at the customer's request (Art. 18)
    restricted_by: str | None = None
    # Set when the alarm's last promise was kept (handlers/record_end.py). The state is then only a
    # marker: the alarm id, these two times and the ids of the holds placed on it, so that a late hold
    # still gets its answer at once. The marker itself is forgotten `alarm_marker_lifetime` later.
    ended_at: datetime | None = None
    media_gone_at: datetime | None = None  # when the last of its media was confirmed deleted
    ended_hold_ids: tuple[str, ...] = ()
    disclosures: tuple[Disclosure, ...] = ()  # media handed over to the police

    @property
    def ended(self) -> bool:
        return self.ended_at is not None

    @property
    def known(self) -> bool:
        """An alarm event has arrived (not only holds)."""
        return self.triggered_at is not None

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

    def find_hold(self, hold_id: str) -> Hold | None:
        for hold in self.holds:
            if hold.hold_id == hold_id:
                return hold
        return None

    def with_media(self, updated: dict[tuple[str, str], MediaObject]) -> AlarmState:
        return replace(self, media=tuple(updated.get(m.ref, m) for m in self.media))

    def with_hold(self, hold: Hold) -> AlarmState:
        others = tuple(h for h in self.holds if h.hold_id != hold.hold_id)
        return replace(self, holds=(*others, hold))


# --- the changelog format -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Stored:
    v: int
    state: AlarmState
    # Audit records about this state that the audit topic may not have yet (the outbox): written with
    # the state in one changelog record, so a crash cannot keep the state and lose its audit records.
    # Cleared by a later write once the audit topic acknowledged them (streams/worker/outbox.py).
    outbox: tuple[AuditRecord, ...] = ()


_STORED = TypeAdapter(_Stored)


def encode_state(state: AlarmState, outbox: tuple[AuditRecord, ...] = ()) -> bytes:
    # Fields at their defaults are left out: half the bytes, in the table, the changelog and the read model.
    return _STORED.dump_json(_Stored(STATE_FORMAT, state, outbox), exclude_defaults=True)


def decode_state(raw: bytes) -> AlarmState:
    return decode_stored(raw)[0]


def decode_stored(raw: bytes) -> tuple[AlarmState, tuple[AuditRecord, ...]]:
    """The state and its outbox."""
    try:
        stored = _STORED.validate_json(raw)
    except ValidationError:
        version = json.loads(raw).get("v")
        if version != STATE_FORMAT:
            raise ValueError(f"unknown alarm state format {version!r}") from None
        raise
    if stored.v != STATE_FORMAT:
        raise ValueError(f"unknown alarm state format {stored.v!r}")
    return stored.state, stored.outbox
