"""The input event contract, version 1: what the alarm platform and the police liaison send.

Every event is a JSON object with a `type` and a unique `event_id`; every timestamp is RFC 3339 with
an offset. Unknown fields are refused rather than ignored: a privacy service should not quietly accept
data it does not understand.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

# RFC 3339 section 5.6: date, "T" (or space), time, optional fraction, and a mandatory offset.
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")
# S3 bucket naming rules (the subset every S3 implementation accepts).
_BUCKET = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
MAX_MEDIA_PER_EVENT = 1000


def _parse_rfc3339(value: object) -> datetime:
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError("must be an RFC 3339 timestamp with an offset, like 2026-03-15T10:00:00+01:00")
    # Python 3.11 reads at most microseconds; nanosecond fractions are cut, never rounded up.
    head, _, rest = value.partition(".")
    if rest:
        digits = re.match(r"\d+", rest)
        assert digits is not None
        value = f"{head}.{digits.group()[:6]}{rest[digits.end() :]}"
    return datetime.fromisoformat(value.replace("z", "Z")).astimezone(UTC)


def _valid_object_key(key: str) -> str:
    if len(key.encode("utf-8")) > 1024:
        raise ValueError("an S3 object key is at most 1024 bytes of UTF-8")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in key):
        raise ValueError("an object key must not contain control characters")
    return key


def _no_nul(text: str) -> str:
    # A NUL is nobody's case reference or name, and no database stores it in a text (the archive's would
    # refuse the record): refused at the door, with the reason.
    if "\x00" in text:
        raise ValueError("must not contain a NUL character")
    return text


Timestamp = Annotated[datetime, BeforeValidator(_parse_rfc3339)]
Identifier = Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]{1,200}$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=500), AfterValidator(_no_nul)]
BucketName = Annotated[str, StringConstraints(pattern=_BUCKET)]
Signature = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
ObjectKey = Annotated[str, StringConstraints(min_length=1), AfterValidator(_valid_object_key)]


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: Identifier


class MediaRef(BaseModel):
    """One image or video clip in object storage."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bucket: BucketName
    key: ObjectKey


class AlarmTriggered(_Event):
    """An alarm went off; its first images are already stored."""

    type: Literal["alarm.triggered"]
    alarm_id: Identifier
    customer_id: Identifier
    triggered_at: Timestamp
    media: tuple[MediaRef, ...] = Field(max_length=MAX_MEDIA_PER_EVENT)


class MediaStored(_Event):
    """More media of an alarm finished uploading (a video clip that ends later, say)."""

    type: Literal["media.stored"]
    alarm_id: Identifier
    customer_id: Identifier
    triggered_at: Timestamp
    media: tuple[MediaRef, ...] = Field(min_length=1, max_length=MAX_MEDIA_PER_EVENT)


class HoldPlaced(_Event):
    """A police investigation wants an alarm's material kept."""

    type: Literal["hold.placed"]
    hold_id: Identifier
    alarm_id: Identifier
    case_reference: Text
    placed_by: Text
    placed_at: Timestamp
    requested_by: Text | None = None  # who asked the police liaison (optional; since contract 1.1)
    unit: Text | None = None  # the police unit whose liaison placed it: only it sees the hold (1.2)
    key_id: Identifier | None = None  # the signing key (see handlers/signing.py; since contract 1.1)
    signature: Signature | None = None


class HoldReleased(_Event):
    """The police no longer need the material of a hold."""

    type: Literal["hold.released"]
    hold_id: Identifier
    alarm_id: Identifier
    released_by: Text
    released_at: Timestamp
    requested_by: Text | None = None  # optional; since contract 1.1
    key_id: Identifier | None = None
    signature: Signature | None = None


class ContractEnded(_Event):
    """A customer's contract ended: its personal data goes."""

    type: Literal["contract.ended"]
    customer_id: Identifier
    ended_at: Timestamp


class CallRecorded(_Event):
    """Customer service recorded a call with the customer (R8). Since contract 1.2."""

    type: Literal["call.recorded"]
    customer_id: Identifier
    recording_id: Identifier
    recorded_at: Timestamp
    consent: bool = Field(description="the customer consented: the shorter period of R8 applies")


class ErasureCompleted(_Event):
    """A downstream system carried out an `erasure.due` command. Since contract 1.2."""

    type: Literal["erasure.completed"]
    command_id: Identifier
    customer_id: Identifier
    system: Identifier
    completed_at: Timestamp


class _CustomerRequest(_Event):
    """A request by the customer (GDPR Art. 15, 17, 18, 20), received by customer service."""

    customer_id: Identifier
    request_id: Identifier
    requested_at: Timestamp
    requested_by: Text = Field(description="who took the request, e.g. a customer service agent")


class AccessRequested(_CustomerRequest):
    """The customer asks what media is kept about them (access, Art. 15; the answer is also the
    machine-readable export for portability, Art. 20). Since contract 1.2."""

    type: Literal["access.requested"]


class ErasureRequested(_CustomerRequest):
    """The customer asks for their media to be erased now (Art. 17); media under a police hold is
    kept (Art. 17(3)) and the answer says which and why. Since contract 1.2."""

    type: Literal["erasure.requested"]


class RestrictionRequested(_CustomerRequest):
    """The customer asks for processing of their media to be restricted (Art. 18). Since 1.2."""

    type: Literal["restriction.requested"]


CustomerRequest = AccessRequested | ErasureRequested | RestrictionRequested
AlarmEvent = AlarmTriggered | MediaStored
HoldEvent = HoldPlaced | HoldReleased
CustomerEvent = ContractEnded | CallRecorded | ErasureCompleted | CustomerRequest
InputEvent = AlarmTriggered | MediaStored | HoldPlaced | HoldReleased | CustomerEvent


def routing_key(event: InputEvent) -> str:
    """The Kafka record key the contract requires: it decides the partition, so it decides which
    worker holds the state. Alarm and hold events go by alarm, customer events by customer."""
    if isinstance(event, CustomerEvent):
        return event.customer_id
    return event.alarm_id
