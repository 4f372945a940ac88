"""Bytes from a topic to a validated event, or a reason a person can act on.

The reasons never quote field values: an event can carry personal data, and reasons end up in logs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from enum import Enum

from pydantic import BaseModel, ValidationError

from handlers.events import (
    AccessRequested,
    AlarmTriggered,
    CallRecorded,
    ContractEnded,
    CustomerEvent,
    ErasureCompleted,
    ErasureRequested,
    HoldPlaced,
    HoldReleased,
    InputEvent,
    MediaStored,
    RestrictionRequested,
    routing_key,
)
from handlers.signing import signature_problem

MAX_EVENT_BYTES = 1_000_000
_TYPE_NAME = re.compile(r"^[a-z]{1,20}\.[a-z_]{1,30}$")


class InputTopic(Enum):
    """What an input topic carries; the topic names themselves are settings."""

    ALARMS = "alarm-events"
    HOLDS = "police-holds"
    CONTRACTS = "contract-events"
    CONFIRMATIONS = "erasure-confirmations"
    REQUESTS = "customer-requests"


EVENT_TYPES: dict[InputTopic, dict[str, type[BaseModel]]] = {
    InputTopic.ALARMS: {"alarm.triggered": AlarmTriggered, "media.stored": MediaStored},
    InputTopic.HOLDS: {"hold.placed": HoldPlaced, "hold.released": HoldReleased},
    InputTopic.CONTRACTS: {"contract.ended": ContractEnded, "call.recorded": CallRecorded},
    InputTopic.CONFIRMATIONS: {"erasure.completed": ErasureCompleted},
    InputTopic.REQUESTS: {
        "access.requested": AccessRequested,
        "erasure.requested": ErasureRequested,
        "restriction.requested": RestrictionRequested,
    },
}


class InvalidEvent(ValueError):
    """The record breaks the contract; `reason` says how, without quoting its content."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ForgedHold(InvalidEvent):
    """A hold event without a valid signature: refused, and worth an audit record of its own."""

    def __init__(self, reason: str, alarm_id: str, hold_id: str | None) -> None:
        super().__init__(reason)
        self.alarm_id, self.hold_id = alarm_id, hold_id


def decode_event(
    value: bytes | None,
    key: bytes | None,
    topic: InputTopic,
    allowed_buckets: Collection[str],
    signing_keys: Mapping[str, bytes] | None = None,
) -> InputEvent:
    """Parse one record of an input topic; raise InvalidEvent with the reason when it is not valid.

    `signing_keys`: when given, hold events must carry a valid signature by one of them.
    """
    if value is None:
        raise InvalidEvent("empty record (no value)")
    if len(value) > MAX_EVENT_BYTES:
        raise InvalidEvent(f"record is {len(value)} bytes; the limit is {MAX_EVENT_BYTES}")
    try:
        document = json.loads(value.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InvalidEvent(f"not UTF-8: invalid byte at position {exc.start}") from None
    except RecursionError:
        raise InvalidEvent("not accepted JSON: nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise InvalidEvent(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(document, dict):
        raise InvalidEvent(f"the event must be a JSON object, not {type(document).__name__}")

    event_type = document.get("type")
    models = EVENT_TYPES[topic]
    if not isinstance(event_type, str):
        raise InvalidEvent("missing or non-string field 'type'")
    if event_type not in models:
        expected = ", ".join(sorted(models))
        # Quote it only if it looks like an event type name: a field may carry anything, personal
        # data included, and reasons end up in logs.
        shown = repr(event_type) if _TYPE_NAME.match(event_type) else "(not an event type name)"
        raise InvalidEvent(f"unknown type {shown} on this topic; expected one of: {expected}")

    try:
        event: InputEvent = models[event_type].model_validate(document)  # type: ignore[assignment]
    except ValidationError as exc:
        raise InvalidEvent(f"schema violation: {_describe(exc)}") from None
    except RecursionError:
        raise InvalidEvent("not accepted JSON: nested too deeply") from None

    _check_key(event, key)
    _check_buckets(event, allowed_buckets)
    if signing_keys and topic is InputTopic.HOLDS:
        problem = signature_problem(document, signing_keys)
        if problem is not None:
            assert isinstance(event, HoldPlaced | HoldReleased)
            raise ForgedHold(problem, event.alarm_id, event.hold_id)
    return event


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_url=False, include_input=False)[:5]:
        where = ".".join(str(part) for part in item["loc"]) or "event"
        parts.append(f"{where}: {item['msg']}")
    more = error.error_count() - len(parts)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def _check_key(event: InputEvent, key: bytes | None) -> None:
    # Partitioning decides which worker holds an alarm's state: a hold keyed differently from its
    # alarm would be applied to an empty state elsewhere, and the evidence deleted on time.
    expected = routing_key(event)
    field = "customer_id" if isinstance(event, CustomerEvent) else "alarm_id"
    if key is None:
        raise InvalidEvent(f"record has no key; it must be keyed by {field}")
    if key != expected.encode("utf-8"):
        raise InvalidEvent(f"record key does not match the event's {field}; it must be keyed by {field}")


def _check_buckets(event: InputEvent, allowed_buckets: Collection[str]) -> None:
    if isinstance(event, AlarmTriggered | MediaStored):
        outside = sorted({m.bucket for m in event.media if m.bucket not in allowed_buckets})
        if outside:
            raise InvalidEvent(f"bucket(s) {', '.join(outside)} not in MEDIA_BUCKETS")
