"""Which fields of an audit record are personal data, and whose (crypto-shredding).

An audit record is kept for years (AUDIT_RETENTION) and sealed in a hash chain, so a personal field can
never be removed from it without breaking every later link. Instead each personal field is stored
encrypted under a key of its data subject, and the key is destroyed when the retention schedule says
the field must go: the record stays, its chain still verifies, and every reader shows the field as
erased.

- The customer's fields (their customer id, and the keys of their objects, which embed it) belong to
  the customer, key ends at R6 (customer identifiers: 12 months after the contract ends).
- A police hold's fields (the case reference and the names of who placed, requested or released it)
  belong to the hold, key ends at S5.

`split` takes them out of a record's JSON document, `merge` puts back what a reader could decrypt and
marks the rest erased. Pure: no keys, no cryptography (streams/protection/ does that).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

ERASED = "[erased]"


class Subject(StrEnum):
    CUSTOMER = "customer"
    HOLD = "hold"
    # Objects of no known customer (the sweep's findings): their keys name a customer nobody can tell,
    # so they go under a key of the day, with the dead letters' lifetime.
    OBJECTS = "objects"
    DEADLETTER = "deadletter"  # a dead letter's original bytes (streams/protection/deadletter_keys.py)


# Details that name people of the police or the customer's representatives.
HOLD_DETAILS = ("case_reference", "placed_by", "requested_by", "released_by")
# Details about the customer: the subject of an erasure command, who asked on their behalf.
CUSTOMER_DETAILS = ("subject", "requested_by")


def subjects_of(document: Mapping[str, Any]) -> dict[Subject, str]:
    """The data subjects the record has personal fields of, with their ids (customer id, hold id, the
    day of a record about objects of no known customer)."""
    found: dict[Subject, str] = {}
    details = document.get("details") or {}
    if document.get("hold_id") and any(details.get(name) for name in HOLD_DETAILS):
        found[Subject.HOLD] = str(document["hold_id"])
    if document.get("customer_id"):
        found[Subject.CUSTOMER] = str(document["customer_id"])
    elif document.get("objects"):
        found[Subject.OBJECTS] = str(document.get("occurred_at", ""))[:10]
    return found


def split(document: Mapping[str, Any]) -> tuple[dict[str, Any], dict[Subject, dict[str, Any]]]:
    """The record without its personal fields, and those fields per subject. Object keys are blanked
    in place (the list keeps its buckets and order). A hold's details are the hold's (its
    `requested_by` too); what is left of the customer's, the customer's."""
    clear = {k: v for k, v in document.items()}
    parts: dict[Subject, dict[str, Any]] = {}
    subjects = subjects_of(document)
    details = dict(document.get("details") or {})
    if Subject.HOLD in subjects:
        parts[Subject.HOLD] = {"details": {n: details.pop(n) for n in HOLD_DETAILS if n in details}}
    if Subject.OBJECTS in subjects:
        objects = list(document.get("objects") or [])
        parts[Subject.OBJECTS] = {"object_keys": [o["key"] for o in objects]}
        clear["objects"] = [{**o, "key": ""} for o in objects]
    if Subject.CUSTOMER in subjects:
        objects = list(document.get("objects") or [])
        part: dict[str, Any] = {"customer_id": document["customer_id"]}
        if objects:
            part["object_keys"] = [o["key"] for o in objects]
            clear["objects"] = [{**o, "key": ""} for o in objects]
        taken = {name: details.pop(name) for name in CUSTOMER_DETAILS if name in details}
        if taken:
            part["details"] = taken
        clear.pop("customer_id")
        parts[Subject.CUSTOMER] = part
    if "details" in document:
        clear["details"] = details
        if not details:
            clear.pop("details")
    return clear, parts


def merge(clear: Mapping[str, Any], opened: Mapping[Subject, Mapping[str, Any] | None]) -> dict[str, Any]:
    """The record as a reader shows it: each subject's fields as decrypted, or ERASED where its key is
    gone (None), and `erased` listing those subjects."""
    document = {k: v for k, v in clear.items() if k != "encrypted"}
    details = dict(document.get("details") or {})
    erased = []
    for subject, part in opened.items():
        if part is None:
            erased.append(subject.value)
            if subject is Subject.CUSTOMER:
                document["customer_id"] = ERASED
            if subject in (Subject.CUSTOMER, Subject.OBJECTS) and document.get("objects"):
                document["objects"] = [{**o, "key": ERASED} for o in document["objects"]]
            continue
        if "customer_id" in part:
            document["customer_id"] = part["customer_id"]
        if "object_keys" in part:
            document["objects"] = [
                {**o, "key": key}
                for o, key in zip(document.get("objects") or [], part["object_keys"], strict=True)
            ]
        details.update(part.get("details") or {})
    if details:
        document["details"] = details
    if erased:
        document["erased"] = sorted(erased)
    return document


def customer_fields_end_after_erasure(
    now: datetime, grace: timedelta, hold_limits: Iterable[datetime]
) -> datetime:
    """When an erasure request (Art. 17) ends a customer's fields in the audit trail: once the
    deletions it causes are recorded (`grace`), or, while the police hold evidence of the customer's,
    at the latest hold limit: those records are needed while the hold lasts (Art. 17(3))."""
    return max([now + grace, *hold_limits])
