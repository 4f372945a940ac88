"""A tamper-evident audit trail: each record carries the hash of the one before it in its partition.

`hash` = SHA-256 of `prev_hash` and the record's canonical JSON (every field but `hash`, keys sorted).
Changing, removing or inserting a record breaks the chain at that point; `retention audit verify`
finds the first such record. The first record of a partition follows GENESIS.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64


def _digest(prev_hash: str, document: Mapping[str, Any]) -> str:
    unsealed = {k: v for k, v in document.items() if k != "hash"}
    body = json.dumps(unsealed, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(prev_hash.encode("ascii") + body).hexdigest()


def seal(prev_hash: str, document: Mapping[str, Any]) -> dict[str, Any]:
    """The record with `prev_hash` and its own `hash` added."""
    linked = {**document, "prev_hash": prev_hash}
    linked["hash"] = _digest(prev_hash, linked)
    return linked


@dataclass(frozen=True)
class Break:
    partition: int
    offset: int
    reason: str


def verify(partition: int, records: Iterable[tuple[int, bytes]]) -> tuple[int, Break | None]:
    """Check one partition's records (offset, value) in order: how many, and the first break if any."""
    expected_prev = GENESIS
    count = 0
    for offset, value in records:
        count += 1
        try:
            document = json.loads(value)
        except ValueError:
            return count, Break(partition, offset, "not JSON")
        if not isinstance(document, dict) or "hash" not in document or "prev_hash" not in document:
            return count, Break(partition, offset, "no hash chain fields")
        if document["prev_hash"] != expected_prev:
            return count, Break(partition, offset, "prev_hash does not match the record before it")
        if _digest(document["prev_hash"], document) != document["hash"]:
            return count, Break(partition, offset, "hash does not match the record's content")
        expected_prev = document["hash"]
    return count, None
