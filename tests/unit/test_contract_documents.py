"""The OpenAPI and AsyncAPI documents are generated from the code, and say what the code does."""

from __future__ import annotations

import json
import re
from pathlib import Path

from config.settings import TopicNames
from handlers.audit_chain import verify
from handlers.customer_rights import RequestAnswered
from handlers.erasure import ErasureDue
from streams.api.asyncapi import DeadLetter, PublishedAuditRecord, asyncapi_document
from streams.api.contract_examples import EXAMPLE_CHAIN_KEY, examples, readme_blocks
from streams.api.openapi import openapi_document
from streams.api.routes import ENDPOINTS

ROOT = Path(__file__).resolve().parents[2]


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
                             "PublishedAuditRecord", "DeadLetter"}  # fmt: skip
    schemas = document["components"]["schemas"]
    assert "triggered_at" in schemas["AlarmTriggered"]["required"]
    assert schemas["AlarmTriggered"]["additionalProperties"] is False
    assert document["operations"]["receivePoliceHolds"]["action"] == "receive"


class TestTheExamplesAgree:
    """The README, the AsyncAPI document and the code show the same payloads."""

    def test_the_readme_shows_every_example_as_the_code_makes_it(self) -> None:
        readme = (ROOT / "README.md").read_text()
        shown = dict(re.findall(r"(<!-- example: (.+?) -->\n.*?\n<!-- /example -->)", readme, re.DOTALL))
        blocks = readme_blocks()
        assert set(shown.values()) == set(blocks), "regenerate with `retention contract examples`"
        for name, block in blocks.items():
            assert block in readme, f"the README's {name} example differs from the code's"

    def test_asyncapi_carries_the_same_examples_and_every_message_has_one(self) -> None:
        document = asyncapi_document("1.0", TopicNames())
        carried = [e["payload"] for m in document["components"]["messages"].values() for e in m["examples"]]
        assert sorted(map(json.dumps, carried)) == sorted(json.dumps(e.payload) for e in examples())
        assert all(m["examples"] for m in document["components"]["messages"].values())

    def test_every_output_example_is_what_its_model_reads(self) -> None:
        for example in examples():
            payload = {k: v for k, v in example.payload.items() if k not in ("prev_hash", "hash")}
            if example.topic == "audit":
                PublishedAuditRecord.model_validate(example.payload)
            elif example.topic == "erasure-commands":
                ErasureDue.model_validate(payload)
            elif example.topic == "customer-request-outcomes":
                RequestAnswered.model_validate(payload)
            elif example.topic == "retention-deadletter":
                DeadLetter.model_validate(payload)

    def test_the_audit_examples_are_a_valid_chain(self) -> None:
        chained = [
            (n, json.dumps(e.payload).encode()) for n, e in enumerate(examples()) if e.topic == "audit"
        ]
        keys = dict([EXAMPLE_CHAIN_KEY])
        assert verify(0, [(n, value) for n, (_, value) in enumerate(chained)], keys) == (len(chained), None)
