"""Messages the service sends itself on its internal topic, partition by partition.

Deciding to delete, and recording that a deletion happened, must pass through the same ordered stream
as the holds: a hold that arrives first wins, and one that arrives after the deletion began is answered
truthfully. Both messages carry many alarms of one partition, so a burst of due media costs a handful of
stream events rather than one per alarm.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class _Internal(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str


class DeadlinesReached(_Internal):
    """The scheduler's clock passed a moment that matters for these alarms (a deadline, a hold's
    warning or limit); the stream checks each alarm's state to see what is really due."""

    type: Literal["deadlines.reached"] = "deadlines.reached"
    alarm_ids: tuple[str, ...]
    checked_at: datetime


class DeletedObject(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    alarm_id: str
    bucket: str
    key: str


class ObjectsDeleted(_Internal):
    """The object store confirmed that every version of these objects is gone."""

    type: Literal["objects.deleted"] = "objects.deleted"
    objects: tuple[DeletedObject, ...]
    deleted_at: datetime


class ContractEndBroadcast(_Internal):
    """A customer's contract ended. Sent to every partition, because the customer's alarms are spread
    over all of them; each partition applies it to its own alarms and remembers it for later ones.
    `event_id` is that of the original contract.ended event."""

    type: Literal["contract.end_broadcast"] = "contract.end_broadcast"
    customer_id: str
    ended_at: datetime


class ErasuresReached(_Internal):
    """The erasure scheduler's clock passed a moment that matters for these customers (an erasure
    due, or a command's confirmation window ended); sent to the customers' partition."""

    type: Literal["erasures.reached"] = "erasures.reached"
    customer_ids: tuple[str, ...]
    checked_at: datetime


class ContractEndsExpired(_Internal):
    """These customers' contract ends have been remembered as long as schedule row S4 says: the
    partition it is sent to forgets its copy of each."""

    type: Literal["contract_ends.expired"] = "contract_ends.expired"
    customer_ids: tuple[str, ...]
    checked_at: datetime


class SubjectKeysDue(_Internal):
    """These data subjects' keys (by their names in the `subject-keys` table) have reached their end,
    or their destroyed entries their forgetting: the partition they belong to acts on them."""

    type: Literal["subject_keys.due"] = "subject_keys.due"
    names: tuple[str, ...]
    checked_at: datetime


class CustomerRequestBroadcast(_Internal):
    """A customer's erasure or restriction request, sent to every partition: the customer's alarms
    are spread over all of them. `event_id` is that of the request event."""

    type: Literal["customer.request_broadcast"] = "customer.request_broadcast"
    kind: Literal["erasure", "restriction"]
    customer_id: str
    requested_at: datetime


class DisclosedObject(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    bucket: str
    key: str
    version_id: str
    size: int
    sha256: str


class MediaDisclosed(_Internal):
    """The API handed a hold's media over to its police unit (signed manifest, download links): the
    alarm's partition records the disclosure. `event_id` is the handover's id."""

    type: Literal["media.disclosed"] = "media.disclosed"
    alarm_id: str
    hold_id: str
    unit: str | None
    requested_by: str
    # As the API saw them: the record says whose data went and in which case even when the alarm's
    # record ended before this was processed (a release and a deletion may come first).
    customer_id: str | None = None
    case_reference: str | None = None
    objects: tuple[DisclosedObject, ...]
    manifest_sha256: str
    disclosed_at: datetime


class SweepRequested(_Internal):
    """Start a reconciliation sweep; sent to partition 0, whose owner runs it. `event_id` is the
    sweep's id."""

    type: Literal["sweep.requested"] = "sweep.requested"
    requested_by: str


class FoundObject(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    bucket: str
    key: str
    alarm_id: str | None  # None: no alarm we know of
    last_modified: datetime
    outcome: str  # "deleted", "reported", or "kept: <why>"


class SweepFindings(_Internal):
    """What a sweep found of one verdict in one page of a bucket listing; the owner of partition 0
    records it in the audit trail, so the sweep never writes to a chain it may no longer own."""

    type: Literal["sweep.findings"] = "sweep.findings"
    sweep_id: str
    verdict: str
    objects: tuple[FoundObject, ...]


class SweepCompleted(_Internal):
    type: Literal["sweep.completed"] = "sweep.completed"
    sweep_id: str
    requested_by: str
    started_at: datetime
    finished_at: datetime
    status: Literal["completed", "failed"]
    counts: dict[str, int]
    error: str | None = None


_Message = (
    DeadlinesReached
    | ObjectsDeleted
    | ContractEndBroadcast
    | ErasuresReached
    | ContractEndsExpired
    | SubjectKeysDue
    | MediaDisclosed
    | CustomerRequestBroadcast
    | SweepRequested
    | SweepFindings
    | SweepCompleted
)
InternalMessage = Annotated[_Message, Field(discriminator="type")]
INTERNAL_MESSAGE: TypeAdapter[_Message] = TypeAdapter(InternalMessage)
