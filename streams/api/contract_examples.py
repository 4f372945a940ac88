"""Examples of every payload of the event contract, made by the code itself.

Input examples are validated by the same pydantic models and decoder the service uses; output examples
(audit records, dead letters, erasure commands) are what the service's own functions produce for the
inputs above. The AsyncAPI document carries them, and the README's examples are generated from them
(`retention contract examples`; a test compares), so the three cannot say different things.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from handlers.alarm_events import on_alarm_event
from handlers.audit_chain import GENESIS, seal
from handlers.customer_rights import answer_erasure
from handlers.decoding import InputTopic, decode_event
from handlers.deletions import on_objects_deleted
from handlers.erasure import ErasureDue
from handlers.events import routing_key
from handlers.holds import on_hold_placed
from handlers.personal_fields import Subject
from handlers.policy import RetentionPolicy
from handlers.signing import sign
from handlers.time_passed import on_time_passed
from streams.kafka.deadletter import deadletter_value
from streams.protection.sealing import protect, seal_part

MEDIA_BUCKET = "alarm-media"
TRIGGERED_AT = "2026-03-15T09:00:00+01:00"
POLICY = RetentionPolicy(media_retention=timedelta(days=7), hold_retention=timedelta(days=30))
EXAMPLE_SIGNING_KEY = ("api-2026", b"an example secret, never a real one")
EXAMPLE_CHAIN_KEY = ("chain-2026", b"an example chain key, never a real one")
# The examples' subject keys and nonces: fixed, so the README's examples are the same at every run.
_EXAMPLE_KEY = bytes(range(32))
_EXAMPLE_NONCE = bytes(12)


@dataclass(frozen=True)
class Example:
    name: str  # the event or record type, and the README marker
    topic: InputTopic | str  # an input topic's kind, or an output topic's role
    payload: dict[str, Any]
    key: str

    def json(self) -> str:
        return json.dumps(self.payload, ensure_ascii=False)


_INPUTS: list[tuple[InputTopic, dict[str, Any]]] = [
    (
        InputTopic.ALARMS,
        {
            "type": "alarm.triggered",
            "event_id": "6f1c0e1e-5d43-4a8e-9a57-0c1d3b0f2a11",
            "alarm_id": "alarm-2026-0042",
            "customer_id": "cust-1187",
            "triggered_at": TRIGGERED_AT,
            "media": [{"bucket": MEDIA_BUCKET, "key": "cust-1187/alarm-2026-0042/cam1-0001.jpg"}],
        },
    ),
    (
        InputTopic.ALARMS,
        {
            "type": "media.stored",
            "event_id": "0b6c7d1a-7f4e-4d0e-bf2b-8f1f0f6a7c22",
            "alarm_id": "alarm-2026-0042",
            "customer_id": "cust-1187",
            "triggered_at": TRIGGERED_AT,
            "media": [{"bucket": MEDIA_BUCKET, "key": "cust-1187/alarm-2026-0042/cam1.mp4"}],
        },
    ),
    (
        InputTopic.HOLDS,
        sign(
            {
                "type": "hold.placed",
                "event_id": "3c2e8f0a-1b7d-4c55-8e0f-9a6b2d4c1e33",
                "hold_id": "hold-77",
                "alarm_id": "alarm-2026-0042",
                "case_reference": "2026-POL-1234",
                "placed_by": "liaison@politiet.example",
                "placed_at": "2026-03-16T08:00:00Z",
            },
            *EXAMPLE_SIGNING_KEY,
        ),
    ),
    (
        InputTopic.HOLDS,
        sign(
            {
                "type": "hold.released",
                "event_id": "9e4d2b1c-6a3f-4f0e-a1c2-5b7d8e9f0a44",
                "hold_id": "hold-77",
                "alarm_id": "alarm-2026-0042",
                "released_by": "liaison@politiet.example",
                "released_at": "2026-03-20T12:00:00Z",
            },
            *EXAMPLE_SIGNING_KEY,
        ),
    ),
    (
        InputTopic.CONTRACTS,
        {
            "type": "contract.ended",
            "event_id": "a1b2c3d4-0000-4e5f-8a9b-0c1d2e3f4a55",
            "customer_id": "cust-1187",
            "ended_at": "2026-04-01T00:00:00+02:00",
        },
    ),
    (
        InputTopic.CONTRACTS,
        {
            "type": "call.recorded",
            "event_id": "b2c3d4e5-1111-4f60-9bac-1d2e3f4a5b66",
            "customer_id": "cust-1187",
            "recording_id": "call-5531",
            "recorded_at": "2026-03-02T10:15:00+01:00",
            "consent": True,
        },
    ),
    (
        InputTopic.CONFIRMATIONS,
        {
            "type": "erasure.completed",
            "event_id": "c3d4e5f6-2222-4071-acbd-2e3f4a5b6c77",
            "command_id": "0c9d5e1f-3333-4182-bdce-3f4a5b6c7d88",
            "customer_id": "cust-1187",
            "system": "customer-database",
            "completed_at": "2027-03-31T22:03:10Z",
        },
    ),
    (
        InputTopic.REQUESTS,
        {
            "type": "access.requested",
            "event_id": "e5f6a7b8-5555-43a4-8f01-5b6c7d8e9faa",
            "customer_id": "cust-1187",
            "request_id": "req-87",
            "requested_at": "2026-03-17T14:00:00+01:00",
            "requested_by": "agent-17@customer-service",
        },
    ),
    (
        InputTopic.REQUESTS,
        {
            "type": "restriction.requested",
            "event_id": "f6a7b8c9-6666-44b5-9012-6c7d8e9fabbb",
            "customer_id": "cust-1187",
            "request_id": "req-89",
            "requested_at": "2026-03-18T09:45:00+01:00",
            "requested_by": "agent-17@customer-service",
        },
    ),
    (
        InputTopic.REQUESTS,
        {
            "type": "erasure.requested",
            "event_id": "d4e5f6a7-4444-4293-bedf-4a5b6c7d8e99",
            "customer_id": "cust-1187",
            "request_id": "req-88",
            "requested_at": "2026-03-18T09:30:00+01:00",
            "requested_by": "agent-17@customer-service",
        },
    ),
]


@cache
def examples() -> tuple[Example, ...]:
    """Every example, inputs first; each input decoded by the service's own decoder."""
    made = []
    signing = dict([EXAMPLE_SIGNING_KEY])
    for topic, document in _INPUTS:
        raw = json.dumps(document).encode("utf-8")
        key = document.get("alarm_id") or document["customer_id"]
        event = decode_event(raw, key.encode("utf-8"), topic, {MEDIA_BUCKET}, signing)
        made.append(Example(document["type"], topic, document, routing_key(event)))
    return (*made, *_audit_examples(), _erasure_command(), _request_answered(), _dead_letter())


def _audit_examples() -> list[Example]:
    """What the policy records for the alarm above: its deletion scheduled, then done, chained."""
    triggered = _decoded(0)
    received = datetime(2026, 3, 15, 8, 0, 1, 200_000, tzinfo=UTC)
    scheduled = on_alarm_event(None, triggered, received, POLICY)
    deadline = scheduled.state.deadline
    assert deadline is not None
    due = on_time_passed(scheduled.state, deadline + timedelta(milliseconds=40), "tick-1", POLICY)
    assert due is not None
    refs = [m.ref for m in due.delete]
    deleted = on_objects_deleted(due.state, refs, deadline + timedelta(milliseconds=180), "done-1", POLICY)
    assert deleted is not None
    records = [*scheduled.audit, *deleted.audit]
    chained, previous = [], GENESIS
    for record in records:
        published = protect(json.loads(record.to_json()), _example_key, nonce=_EXAMPLE_NONCE)
        sealed = seal(previous, published, EXAMPLE_CHAIN_KEY)
        previous = sealed["hash"]
        chained.append(Example(record.type.value, "audit", sealed, record.alarm_id or ""))
    return chained


def _example_key(subject: Subject, subject_id: str) -> tuple[str, bytes]:
    return f"example-{subject.value}-key", _EXAMPLE_KEY


def _request_answered() -> Example:
    """The answer to the erasure request above, for the alarm above once the police hold it."""
    alarm = _decoded(0)
    hold = _decoded(2)
    request = _decoded(len(_INPUTS) - 1)
    received = datetime(2026, 3, 15, 8, 0, 1, tzinfo=UTC)
    state = on_alarm_event(None, alarm, received, POLICY).state
    state = on_hold_placed(state, hold, datetime(2026, 3, 16, 8, 0, 1, tzinfo=UTC), POLICY).state
    answer = answer_erasure(
        request.request_id,
        request.customer_id,
        [state],
        datetime(2026, 3, 18, 8, 30, 2, tzinfo=UTC),
        POLICY,
    )
    return Example(
        answer.type, "customer-request-outcomes", json.loads(answer.model_dump_json()), answer.customer_id
    )


def _decoded(index: int) -> Any:
    topic, document = _INPUTS[index]
    key = document.get("alarm_id") or document["customer_id"]
    return decode_event(json.dumps(document).encode(), key.encode(), topic, {MEDIA_BUCKET})


def _erasure_command() -> Example:
    command = ErasureDue(
        command_id="0c9d5e1f-3333-4182-bdce-3f4a5b6c7d88",
        customer_id="cust-1187",
        rule="R6",
        category="customer_identifiers",
        action="anonymise",
        system="customer-database",
        due_at=datetime(2027, 3, 31, 22, 0, tzinfo=UTC),
        attempt=1,
        sent_at=datetime(2027, 3, 31, 22, 0, 0, 140_000, tzinfo=UTC),
    )
    return Example(
        "erasure.due", "erasure-commands", json.loads(command.model_dump_json()), command.customer_id
    )


def _dead_letter() -> Example:
    bad = dict(_INPUTS[0][1], triggered_at="2026-03-15T09:00:00")  # no offset
    raw = json.dumps(bad).encode("utf-8")
    try:
        decode_event(raw, b"alarm-2026-0042", InputTopic.ALARMS, {MEDIA_BUCKET})
    except ValueError as exc:
        reason = str(exc)
    else:
        raise AssertionError("the bad example decoded")
    letter = deadletter_value(
        reason=reason,
        topic="alarm-events",
        partition=2,
        offset=41,
        key=b"alarm-2026-0042",
        value=raw,
        timestamp=1773561600.5,  # seconds, as faust gives it
        now=datetime(2026, 3, 15, 8, 0, 1, tzinfo=UTC),
        seal=lambda source, original: seal_part(
            _EXAMPLE_KEY, "example-deadletter-key", source, Subject.DEADLETTER, original, nonce=_EXAMPLE_NONCE
        ),
    )
    return Example("dead letter", "retention-deadletter", json.loads(letter), "alarm-2026-0042")


def markdown(example: Example) -> str:
    return f"<!-- example: {example.name} -->\n```json\n{example.json()}\n```\n<!-- /example -->"


def readme_blocks() -> dict[str, str]:
    return {example.name: markdown(example) for example in examples()}
