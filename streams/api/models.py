"""Request and response bodies of the HTTP API; the OpenAPI document is generated from these."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from handlers.events import Identifier, Text


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Error(_Body):
    error: str
    detail: str


class PlaceHold(_Body):
    alarm_id: Identifier
    case_reference: Text
    requested_by: Text | None = Field(default=None, description="who asked, e.g. the investigating officer")


class ReleaseHold(_Body):
    alarm_id: Identifier | None = Field(default=None, description="needed only if the hold is not known yet")
    requested_by: Text | None = None


class HoldSubmitted(_Body):
    hold_id: str
    alarm_id: str
    event_id: str
    status: Literal["accepted", "rejected", "waiting_for_alarm", "released", "submitted"]
    kept_until: datetime | None = None
    reason: str | None = None


class HoldView(_Body):
    hold_id: str
    alarm_id: str
    case_reference: str | None
    placed_by: str | None
    requested_by: str | None
    placed_at: datetime | None
    expires_at: datetime | None
    seconds_left: float | None
    expiring_soon: bool


class HoldList(_Body):
    holds: list[HoldView]


class MediaView(_Body):
    bucket: str
    key: str | None = Field(
        description="the object's key; not shown to police liaisons (it names the customer)"
    )
    status: Literal["pending", "deleting", "deleted"]
    deadline: datetime | None
    rule: str | None
    deleted_at: datetime | None
    legal_hold: bool


class HoldState(_Body):
    hold_id: str
    unit: str | None = Field(default=None, description="the police unit that placed it")
    case_reference: str | None
    placed_by: str | None
    placed_at: datetime | None
    released_at: datetime | None
    released_by: str | None
    state: Literal["active", "released", "expired", "rejected", "dropped", "release_only"]
    reason: str | None


class AlarmView(_Body):
    alarm_id: str
    customer_id: str | None = Field(description="only for operators")
    triggered_at: datetime | None
    deadline: datetime | None
    rule: str | None
    media: list[MediaView]
    holds: list[HoldState]
    contract_ended_at: datetime | None = Field(description="only for operators")
    erasure_requested_at: datetime | None = Field(description="the customer asked for erasure (Art. 17)")
    restricted: bool = Field(description="processing restricted at the customer's request (Art. 18)")
    ended_at: datetime | None = Field(
        default=None,
        description="the alarm's record ended (its media all went, no hold active): only this marker is kept",
    )
    media_gone_at: datetime | None = Field(default=None, description="when the last of its media was deleted")


class AuditTrail(_Body):
    alarm_id: str
    records: list[dict[str, object]]


class CustomerMedia(_Body):
    customer_id: str
    alarms: list[AlarmView]


class Summary(_Body):
    now: datetime
    pending: int
    deleting: int
    deleted: int = Field(
        description="objects deleted whose alarm's record has not ended yet: it ends with the last of its "
        "media, so this stays near 0 (what was deleted, and when: the archive's deletions and audit trail)"
    )
    overdue: int
    active_holds: int
    holds_expiring_soon: int
    due_per_hour: list[dict[str, object]]
    upcoming: list[dict[str, object]]
    holds: list[HoldView]
    deadletters: list[dict[str, object]]
    projection_caught_up: bool
    erasures_open: int = Field(description="erasure commands (R3-R8) not yet confirmed")
    erasures_unconfirmed: int = Field(description="of which sent and not confirmed in time: must stay 0")
    archive_configured: bool = Field(default=False, description="the worker reads an archive (DATABASE_URL)")
    archive_lag_records: int | None = Field(
        default=None,
        description="records not yet in the archive, as the projector last measured; null: unknown",
    )
    archive_measured_at: datetime | None = Field(default=None, description="when the projector measured it")


class ErasureView(_Body):
    command_id: str
    rule: str
    category: str
    action: Literal["delete", "anonymise"]
    system: str
    due_at: datetime
    subject: str | None
    status: Literal["scheduled", "sent", "unconfirmed", "confirmed"]
    attempts: int
    sent_at: datetime | None
    confirmed_at: datetime | None


class CustomerErasures(_Body):
    customer_id: str
    erasures: list[ErasureView]


class UnconfirmedErasures(_Body):
    erasures: list[dict[str, object]] = Field(description="customer_id and the erasure, per command")


class SubmitRequest(_Body):
    kind: Literal["access", "erasure", "restriction"]
    requested_by: Text | None = Field(default=None, description="who asked, if not the token's holder")


class RequestSubmitted(_Body):
    request_id: str
    customer_id: str
    kind: Literal["access", "erasure", "restriction"]
    status: Literal["answered", "submitted"]
    answer: dict[str, object] | None = Field(description="the request.answered event, once answered")


class SweepStarted(_Body):
    sweep_id: str
    detail: str


class SweepReport(_Body):
    sweep_id: str
    requested_by: str
    status: Literal["completed", "failed"]
    started_at: datetime
    finished_at: datetime
    counts: dict[str, int] = Field(
        description="objects listed, fine, overdue, left_behind, orphan, unknown, deleted, kept"
    )
    error: str | None = None
    findings: list[dict[str, object]] = Field(
        description="audit records of objects of no known alarm (orphans deleted or kept, unknown objects)"
    )


class DeadLetters(_Body):
    deadletters: list[dict[str, object]]


class Health(_Body):
    status: Literal["ready", "degraded", "starting"]
    degraded: list[str] = Field(default=[], description="why, while the status is degraded")
    partitions: list[int]
    deadlines_tracked: int
    deletions_outstanding: int
    deletion_failures_total: int
    legal_holds_outstanding: int
    deadlines: str = Field(
        description='"acting", or why deadlines wait: after a rebalance, until the holds that arrived '
        "before it are applied"
    )
    projection_caught_up: bool
    recovery: str = Field(
        description='"complete" once every table is known to hold its changelog to the end; until '
        "then, why not (the worker decides nothing before)"
    )


class AccessLogEntry(_Body):
    access_id: str
    at: datetime
    identity: str
    role: str
    unit: str | None
    client: str = Field(description="the address the request came from")
    method: str
    endpoint: str
    read: dict[str, str] = Field(description="what was read: the path's parameters (a customer as pseudonym)")
    query: dict[str, str] = Field(default_factory=dict, description="the query's parameters")
    status: int


class AccessLogPage(_Body):
    entries: list[AccessLogEntry]


class ArchivePage(_Body):
    """Audit records from the archive, oldest first, a page at a time."""

    records: list[dict[str, object]]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last")


class CaseHoldView(_Body):
    hold_id: str
    unit: str | None = Field(default=None, description="the police unit that placed it")
    alarm_id: str | None
    placed_at: datetime
    placed_by: str | None
    kept_until: str | None = Field(description="the hold limit it was accepted with")
    ended_by: Literal["hold.released", "hold.expired", "hold.dropped"] | None = Field(
        description="null while the hold is active"
    )
    ended_at: datetime | None


class CaseHolds(_Body):
    case_reference: str
    holds: list[CaseHoldView]


class HandoverLink(_Body):
    bucket: str
    key: str
    version_id: str
    url: str = Field(
        description="a presigned GET of this version, valid until the manifest's links_expire_at"
    )


class HandoverAnswer(_Body):
    """A hold's media handed over: the signed manifest and a download link per version."""

    manifest: dict[str, object] = Field(
        description="handover_id, hold_id, alarm_id, case_reference, unit, requested_by, created_at, "
        "links_expire_at, and objects: bucket, key, version_id, size, sha256 (of the bytes), alarm_at"
    )
    signature: str = Field(description="Ed25519 over the manifest's canonical JSON (keys sorted, no spaces)")
    links: list[HandoverLink]


class HandoverKey(_Body):
    algorithm: str
    public_key: str = Field(description="base64 of the raw Ed25519 public key")
