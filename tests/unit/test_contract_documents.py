"""The OpenAPI and AsyncAPI documents are generated from the code, and say what the code does."""

from __future__ import annotations

from config.settings import TopicNames
from streams.api.asyncapi import asyncapi_document
from streams.api.openapi import openapi_document
from streams.api.routes import ENDPOINTS


def test_openapi_lists_every_endpoint_with_its_roles_and_errors() -> None:
    document = openapi_document("1.0")
    assert document["openapi"].startswith("3.1")
    for endpoint in ENDPOINTS:
        operation = document["paths"][endpoint.path][endpoint.method.lower()]
        assert operation["x-roles"] == sorted(endpoint.roles or [])
        assert {"401", "403"} <= set(operation["responses"])
    place = document["paths"]["/api/v1/holds"]["post"]
    schema_name = place["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert set(document["components"]["schemas"][schema_name]["required"]) == {"alarm_id", "case_reference"}


def test_asyncapi_describes_every_topic_and_payload() -> None:
    document = asyncapi_document("1.0", TopicNames())
    addresses = {c["address"] for c in document["channels"].values()}
    assert addresses == {
        "alarm-events",
        "police-holds",
        "contract-events",
        "retention-audit",
        "retention-deadletter",
        "erasure-commands",
        "erasure-confirmations",
        "customer-requests",
        "customer-request-outcomes",
    }
    messages = document["components"]["messages"]
    assert set(messages) == {"AlarmTriggered", "MediaStored", "HoldPlaced", "HoldReleased", "ContractEnded",
                             "CallRecorded", "ErasureCompleted", "ErasureDue", "AccessRequested",
                             "ErasureRequested", "RestrictionRequested", "RequestAnswered",
                             "AuditRecord", "DeadLetter"}  # fmt: skip
    schemas = document["components"]["schemas"]
    assert "triggered_at" in schemas["AlarmTriggered"]["required"]
    assert schemas["AlarmTriggered"]["additionalProperties"] is False
    assert document["operations"]["receivePoliceHolds"]["action"] == "receive"
