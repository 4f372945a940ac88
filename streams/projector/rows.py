"""A topic's record as the archive's row: what each table keeps of it, and until when.

Pure: the records in, the rows out. A record that cannot be read becomes a `Skipped` (logged and
counted by the projector), never a crash that would stop the archive for every other record.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from handlers.alarm_summary import summarise
from handlers.erasure import decode_customer
from handlers.state import decode_state
from streams.api.access_log import AccessRecord
from streams.protection.subject_keys import SubjectKey, parse_table_key


class Source(StrEnum):
    """What a topic is to the projector."""

    AUDIT = "audit"
    DEADLETTER = "deadletter"
    ANSWERS = "answers"
    ALARM_STATES = "alarm_states"
    CUSTOMER_RECORDS = "customer_records"
    SUBJECT_KEYS = "subject_keys"
    ACCESS_LOG = "access_log"


@dataclass(frozen=True)
class Kept:
    """How long the archive keeps what it did not get from a table (whose rows go with their state)."""

    audit: timedelta
    deadletter: timedelta
    answers: timedelta
    access_log: timedelta = timedelta(days=365)


@dataclass(frozen=True)
class Record:
    source: Source
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True)
class AuditRow:
    audit_id: str
    type: str
    occurred_at: datetime
    alarm_id: str | None
    customer_id: str | None
    hold_id: str | None
    case_reference: str | None
    rule: str | None
    deadline: datetime | None
    record: str  # the JSON as on the topic
    partition: int
    offset: int
    forget_at: datetime
    customer_kid: str | None  # the keys its personal fields are encrypted under (streams/protection/)
    hold_kid: str | None


@dataclass(frozen=True)
class KeyRow:
    name: str
    partition: int
    subject: str
    ref: str
    kid: str | None
    key: str | None  # base64
    case_ref: str | None
    created_at: datetime
    ends_at: datetime
    ended_at: datetime | None
    offset: int


@dataclass(frozen=True)
class StateRow:
    alarm_id: str
    partition: int
    customer_id: str | None
    pending: int
    deleting: int
    deleted: int
    deadline: datetime | None
    oldest_deleting_due: datetime | None
    held: bool
    hold_ids: list[str]
    state: str
    offset: int


@dataclass(frozen=True)
class CustomerRow:
    customer_id: str
    partition: int
    open_erasures: int
    unconfirmed_erasures: int
    record: str
    offset: int


@dataclass(frozen=True)
class Removed:
    """A tombstone on a changelog: the state is gone from the stream, so from the archive."""

    source: Source
    key: str
    offset: int


@dataclass(frozen=True)
class AnswerRow:
    request_id: str
    customer_id: str
    kind: str
    answered_at: datetime
    answer: str
    forget_at: datetime


@dataclass(frozen=True)
class DeadLetterRow:
    partition: int
    offset: int
    source: str | None  # JSON
    reason: str | None
    dead_lettered_at: datetime
    forget_at: datetime


@dataclass(frozen=True)
class AccessRow:
    access_id: str
    at: datetime
    identity: str
    role: str
    unit: str | None
    client: str
    method: str
    endpoint: str
    read: str  # JSON
    query: str  # JSON
    status: int
    partition: int
    offset: int
    forget_at: datetime


@dataclass(frozen=True)
class Skipped:
    record: Record
    reason: str


Row = AuditRow | StateRow | CustomerRow | KeyRow | Removed | AnswerRow | DeadLetterRow | AccessRow | Skipped


def row_of(record: Record, kept: Kept) -> Row:
    try:
        return _ROWS[record.source](record, kept)
    except Exception as exc:  # whatever a producer wrote: skip it, say why
        return Skipped(record, _reason(exc))


def _reason(exc: Exception) -> str:
    """Why, without the values (pydantic quotes the input it refused: personal data, bound for the log)."""
    if isinstance(exc, ValidationError):
        problems = exc.errors(include_url=False, include_input=False, include_context=False)
        return "invalid: " + "; ".join(f"{'.'.join(map(str, p['loc']))}: {p['msg']}" for p in problems[:5])
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def _audit(record: Record, kept: Kept) -> AuditRow:
    text = _text(record.value)
    document: dict[str, Any] = json.loads(text)
    occurred_at = datetime.fromisoformat(document["occurred_at"])
    details = document.get("details") or {}
    deadline = document.get("deadline")
    encrypted = document.get("encrypted") or {}
    return AuditRow(
        audit_id=document["audit_id"],
        type=document["type"],
        occurred_at=occurred_at,
        alarm_id=document.get("alarm_id"),
        customer_id=document.get("customer_id"),
        hold_id=document.get("hold_id"),
        case_reference=details.get("case_reference") or None,
        rule=document.get("rule"),
        deadline=datetime.fromisoformat(deadline) if deadline else None,
        record=text,
        partition=record.partition,
        offset=record.offset,
        forget_at=occurred_at + kept.audit,
        customer_kid=(encrypted.get("customer") or {}).get("kid"),
        hold_kid=(encrypted.get("hold") or {}).get("kid"),
    )


def _subject_key(record: Record, kept: Kept) -> KeyRow | Removed:
    name = _text(record.key)
    if record.value is None or record.value == b"{}":  # forgotten (the placeholder comes just before)
        return Removed(Source.SUBJECT_KEYS, name, record.offset)
    partition, subject, ref = parse_table_key(name)
    key = SubjectKey.from_json(record.value)
    return KeyRow(
        name=name,
        partition=partition,
        subject=subject.value,
        ref=ref,
        kid=key.kid,
        key=base64.b64encode(key.key).decode("ascii") if key.key is not None else None,
        case_ref=key.case_ref,
        created_at=key.created_at,
        ends_at=key.ends_at,
        ended_at=key.ended_at,
        offset=record.offset,
    )


def _alarm_state(record: Record, kept: Kept) -> StateRow | Removed:
    alarm_id = _text(record.key)
    if record.value is None:
        return Removed(Source.ALARM_STATES, alarm_id, record.offset)
    state = decode_state(record.value)
    summary = summarise(state, record.partition)
    return StateRow(
        alarm_id=alarm_id,
        partition=record.partition,
        customer_id=state.customer_id,
        pending=summary.pending,
        deleting=summary.deleting,
        deleted=summary.deleted,
        deadline=_moment(summary.deadline),
        oldest_deleting_due=_moment(summary.oldest_deleting_due),
        held=bool(summary.active_holds),
        hold_ids=[h.hold_id for h in state.holds],
        state=_text(record.value),
        offset=record.offset,
    )


def _customer(record: Record, kept: Kept) -> CustomerRow | Removed:
    customer_id = _text(record.key)
    if record.value is None:
        return Removed(Source.CUSTOMER_RECORDS, customer_id, record.offset)
    customer = decode_customer(record.value)
    return CustomerRow(
        customer_id=customer_id,
        partition=record.partition,
        open_erasures=sum(1 for e in customer.erasures if e.open),
        unconfirmed_erasures=len(customer.unconfirmed),
        record=_text(record.value),
        offset=record.offset,
    )


def _answer(record: Record, kept: Kept) -> AnswerRow:
    text = _text(record.value)
    document = json.loads(text)
    answered_at = datetime.fromisoformat(document["answered_at"])
    return AnswerRow(
        request_id=document["request_id"],
        customer_id=document["customer_id"],
        kind=document["kind"],
        answered_at=answered_at,
        answer=text,
        forget_at=answered_at + kept.answers,
    )


def _deadletter(record: Record, kept: Kept) -> DeadLetterRow:
    document = json.loads(_text(record.value))
    at = datetime.fromisoformat(document["dead_lettered_at"])
    source = document.get("source")
    return DeadLetterRow(
        partition=record.partition,
        offset=record.offset,
        source=json.dumps(source) if source is not None else None,
        reason=document.get("reason"),
        dead_lettered_at=at,
        forget_at=at + kept.deadletter,
    )


def _access(record: Record, kept: Kept) -> AccessRow:
    entry = AccessRecord.model_validate_json(_text(record.value))
    return AccessRow(
        access_id=entry.access_id,
        at=entry.at,
        identity=entry.identity,
        role=entry.role,
        unit=entry.unit,
        client=entry.client,
        method=entry.method,
        endpoint=entry.endpoint,
        read=json.dumps(entry.read),
        query=json.dumps(entry.query),
        status=entry.status,
        partition=record.partition,
        offset=record.offset,
        forget_at=entry.at + kept.access_log,
    )


def _text(raw: bytes | None) -> str:
    if raw is None:
        raise ValueError("no value")
    return raw.decode("utf-8")


def _moment(seconds: float | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds is not None else None


_ROWS = {
    Source.AUDIT: _audit,
    Source.ALARM_STATES: _alarm_state,
    Source.CUSTOMER_RECORDS: _customer,
    Source.SUBJECT_KEYS: _subject_key,
    Source.ANSWERS: _answer,
    Source.DEADLETTER: _deadletter,
    Source.ACCESS_LOG: _access,
}
