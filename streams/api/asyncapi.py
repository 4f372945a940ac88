"""The AsyncAPI 3.0 document of the topics and their payloads, generated from the pydantic models, so
the alarm platform's developers have a machine-readable contract that cannot drift from the code."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from config.settings import TopicNames
from handlers.audit import AuditRecord
from handlers.customer_rights import RequestAnswered
from handlers.erasure import ErasureDue
from handlers.events import (
    AccessRequested,
    AlarmTriggered,
    CallRecorded,
    ContractEnded,
    ErasureCompleted,
    ErasureRequested,
    HoldPlaced,
    HoldReleased,
    MediaStored,
    RestrictionRequested,
)
from streams.api.contract_examples import examples


class SealedPart(BaseModel):
    """Personal fields, encrypted (AES-256-GCM) under the key `kid` (streams/protection/)."""

    kid: str
    nonce: str  # base64
    data: str  # base64: ciphertext and tag


class PublishedAuditRecord(AuditRecord):
    """An audit record as it is on the topic: its personal fields (customer_id, the objects' keys, a
    hold's case reference and officers' names) encrypted per data subject, the rest in the clear, and
    sealed into its partition's chain (HMAC under `chain_key`)."""

    customer_id: str | None = None
    encrypted: dict[str, SealedPart] = Field(default_factory=dict)
    chain_key: str | None = None
    prev_hash: str
    hash: str


class DeadLetter(BaseModel):
    """A record the service could not process: why, where it came from, and its original bytes, sealed
    under the day's dead-letter key (`retention deadletters show` opens them while it lives)."""

    reason: str
    source: dict[str, Any]
    dead_lettered_at: str
    encrypted: SealedPart | None = None  # of {"key_base64", "value_base64"}
    key_base64: str | None = None  # dead letters written before they were sealed
    value_base64: str | None = None


OUTPUTS = (PublishedAuditRecord, DeadLetter, ErasureDue, RequestAnswered)


def asyncapi_document(version: str, topics: TopicNames) -> dict[str, Any]:
    channels_spec: list[tuple[str, str, str, str, list[type[BaseModel]]]] = [
        ("alarmEvents", topics.alarm_events, "alarm_id", "receive", [AlarmTriggered, MediaStored]),
        ("policeHolds", topics.police_holds, "alarm_id", "receive", [HoldPlaced, HoldReleased]),
        ("contractEvents", topics.contract_events, "customer_id", "receive", [ContractEnded, CallRecorded]),
        ("erasureConfirmations", topics.erasure_confirmations, "customer_id", "receive", [ErasureCompleted]),
        ("erasureCommands", topics.erasure_commands, "customer_id", "send", [ErasureDue]),
        (
            "customerRequests",
            topics.customer_requests,
            "customer_id",
            "receive",
            [AccessRequested, ErasureRequested, RestrictionRequested],
        ),
        ("customerRequestOutcomes", topics.request_outcomes, "customer_id", "send", [RequestAnswered]),
        (
            "retentionAudit",
            topics.audit,
            "alarm_id (`customer` for a customer's own records)",
            "send",
            [PublishedAuditRecord],
        ),
        (
            "retentionDeadletter",
            topics.deadletter,
            "topic/partition/offset of the record",
            "send",
            [DeadLetter],
        ),
    ]
    models = sorted({m for *_, ms in channels_spec for m in ms}, key=lambda m: m.__name__)
    refs, schemas = models_json_schema(
        [(m, "serialization" if m in OUTPUTS else "validation") for m in models],
        ref_template="#/components/schemas/{model}",
    )
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    by_type = {example.payload.get("type"): example for example in examples()}
    for channel_id, address, key, action, channel_models in channels_spec:
        channel_messages = {}
        for model in channel_models:
            mode: JsonSchemaMode = "serialization" if model in OUTPUTS else "validation"
            messages[model.__name__] = {
                "name": model.__name__,
                "title": (model.__doc__ or model.__name__).strip().splitlines()[0],
                "contentType": "application/json",
                "payload": refs[(model, mode)],
                "bindings": {"kafka": {"key": {"type": "string", "description": f"the record key: {key}"}}},
                "examples": _examples_of(model, by_type),
            }
            channel_messages[model.__name__] = {"$ref": f"#/components/messages/{model.__name__}"}
        channels[channel_id] = {
            "address": address,
            "description": f"Kafka topic, keyed by {key}"
            + (", any partitioner, any number of partitions" if action == "receive" else ""),
            "messages": channel_messages,
        }
        operations[f"{action}{channel_id[0].upper()}{channel_id[1:]}"] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{channel_id}"},
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Alarm media retention: event contract",
            "version": version,
            "description": "JSON in UTF-8; every event has a type and a unique event_id; every timestamp "
            "is RFC 3339 with an offset; unknown fields are refused. Records of the input topics must be "
            "keyed as stated; their partitioner and the topics' partition counts are the producers' choice.",
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas.get("$defs", {})},
    }


def _examples_of(model: type[BaseModel], by_type: dict[Any, Any]) -> list[dict[str, Any]]:
    """The contract's examples of this payload (streams/api/contract_examples.py), as AsyncAPI's
    message examples: the ones the README shows."""
    if model is DeadLetter:
        chosen = [e for e in examples() if e.name == "dead letter"]
    elif model is PublishedAuditRecord:
        chosen = [e for e in examples() if e.topic == "audit"]
    else:
        type_field = model.model_fields.get("type")
        literal = getattr(type_field.annotation, "__args__", (None,))[0] if type_field else None
        chosen = [by_type[literal]] if literal in by_type else []
    return [{"name": e.name, "payload": e.payload} for e in chosen]
