"""Small builders for events and policies, shared by the tests."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from handlers.events import AlarmTriggered, MediaRef, MediaStored
from handlers.policy import RetentionPolicy
from handlers.signing import sign
from streams.local.worker_process import SIGNING_KEY, SIGNING_KEY_ID

T0 = datetime(2026, 3, 15, 9, 0, tzinfo=UTC)
POLICY = RetentionPolicy(media_retention=timedelta(days=7), hold_retention=timedelta(days=30))


def new_id(prefix: str = "evt") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def triggered(
    alarm_id: str = "alarm-1",
    *,
    keys: tuple[str, ...] = ("a.jpg", "b.jpg"),
    bucket: str = "media",
    at: datetime = T0,
    customer_id: str = "customer-1",
    event_id: str | None = None,
) -> AlarmTriggered:
    return AlarmTriggered(
        type="alarm.triggered",
        event_id=event_id or new_id(),
        alarm_id=alarm_id,
        customer_id=customer_id,
        triggered_at=at.isoformat(),  # type: ignore[arg-type]
        media=tuple(MediaRef(bucket=bucket, key=k) for k in keys),
    )


def stored(
    alarm_id: str = "alarm-1",
    *,
    keys: tuple[str, ...] = ("clip.mp4",),
    bucket: str = "media",
    at: datetime = T0,
    customer_id: str = "customer-1",
    event_id: str | None = None,
) -> MediaStored:
    return MediaStored(
        type="media.stored",
        event_id=event_id or new_id(),
        alarm_id=alarm_id,
        customer_id=customer_id,
        triggered_at=at.isoformat(),  # type: ignore[arg-type]
        media=tuple(MediaRef(bucket=bucket, key=k) for k in keys),
    )


def alarm_json(
    alarm_id: str,
    keys: list[str],
    *,
    bucket: str = "media",
    at: datetime | None = None,
    event_type: str = "alarm.triggered",
    **extra: Any,
) -> bytes:
    document = {
        "type": event_type,
        "event_id": new_id(),
        "alarm_id": alarm_id,
        "customer_id": "customer-1",
        "triggered_at": (at or datetime.now(UTC)).isoformat(),
        "media": [{"bucket": bucket, "key": k} for k in keys],
        **extra,
    }
    return json.dumps(document).encode()


def _signed(document: dict[str, Any], signed: bool) -> bytes:
    """Hold events as the API writes them: signed with the key the test workers are given."""
    if signed:
        document = sign(document, SIGNING_KEY_ID, SIGNING_KEY.encode())
    return json.dumps(document).encode()


def hold_placed_json(
    alarm_id: str, hold_id: str, *, at: datetime | None = None, signed: bool = True, **extra: Any
) -> bytes:
    document = {
        "type": "hold.placed",
        "event_id": new_id(),
        "hold_id": hold_id,
        "alarm_id": alarm_id,
        "case_reference": "2026-POL-0001",
        "placed_by": "liaison@police.example",
        "placed_at": (at or datetime.now(UTC)).isoformat(),
        **extra,
    }
    return _signed(document, signed)


def hold_released_json(
    alarm_id: str, hold_id: str, *, at: datetime | None = None, signed: bool = True
) -> bytes:
    document = {
        "type": "hold.released",
        "event_id": new_id(),
        "hold_id": hold_id,
        "alarm_id": alarm_id,
        "released_by": "liaison@police.example",
        "released_at": (at or datetime.now(UTC)).isoformat(),
    }
    return _signed(document, signed)


def contract_ended_json(customer_id: str, *, at: datetime | None = None) -> bytes:
    document = {
        "type": "contract.ended",
        "event_id": new_id(),
        "customer_id": customer_id,
        "ended_at": (at or datetime.now(UTC)).isoformat(),
    }
    return json.dumps(document).encode()
