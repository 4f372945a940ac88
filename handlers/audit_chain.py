"""A tamper-evident audit trail: each record carries the hash of the one before it in its partition.

`hash` = HMAC-SHA256, under the chain key the record names (`chain_key`, an id of AUDIT_CHAIN_KEYS),
of `prev_hash` and the record's canonical JSON (every field but `hash`, keys sorted). Changing,
removing or inserting a record breaks the chain at that point; `retention audit verify` finds the
first such record. Without the key nobody can write a record that verifies, so records appended by
whoever can write to the topic are found too. The first record of a partition follows GENESIS.
Records written before chains were keyed (no `chain_key`) are plain SHA-256. A check given keys
refuses every unkeyed record, unless told that the trail began before chains were keyed
(`legacy_unkeyed`): then only unkeyed records before a partition's first keyed one pass (a partition
with no keyed record yet cannot tell an old record from one appended without the key).

Retention removes a partition's oldest records (AUDIT_RETENTION), so the first record left follows one
nobody can read any more. Whether they went by retention or were removed by someone is told by
checkpoints: the chain's writer records, at intervals, which hash the record at which offset had and
when (`Checkpoint`, on a topic of its own). Records removed by retention were all older than the
retention; a checkpoint of a removed record written more recently than that shows a removal before its
time. Checkpoints also show a record rewritten along with everything after it (its hash differs from
the checkpoint's) and records cut from the end (a checkpoint past the partition's end).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

GENESIS = "0" * 64


ChainKey = tuple[str, bytes]  # (its id, the secret)


class UnknownChainKey(ValueError):
    pass


def _digest(prev_hash: str, document: Mapping[str, Any], keys: Mapping[str, bytes]) -> str:
    unsealed = {k: v for k, v in document.items() if k != "hash"}
    body = json.dumps(unsealed, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    message = prev_hash.encode("ascii") + body
    key_id = document.get("chain_key")
    if key_id is None:
        return hashlib.sha256(message).hexdigest()
    if key_id not in keys:
        raise UnknownChainKey(str(key_id))
    return hmac.new(keys[key_id], message, hashlib.sha256).hexdigest()


def seal(prev_hash: str, document: Mapping[str, Any], key: ChainKey | None = None) -> dict[str, Any]:
    """The record with `prev_hash` (and `chain_key`, keyed) and its own `hash` added."""
    linked = {**document, "prev_hash": prev_hash}
    keys: dict[str, bytes] = {}
    if key is not None:
        linked["chain_key"] = key[0]
        keys = {key[0]: key[1]}
    linked["hash"] = _digest(prev_hash, linked, keys)
    return linked


@dataclass(frozen=True)
class Break:
    partition: int
    offset: int
    reason: str


def verify(
    partition: int,
    records: Iterable[tuple[int, bytes]],
    keys: Mapping[str, bytes] | None = None,
    legacy_unkeyed: bool = False,
) -> tuple[int, Break | None]:
    """Check one partition's records (offset, value) in order from GENESIS, with the chain keys
    `keys` (id -> secret; none: every record must be unkeyed): how many, and the first break if any."""
    count, broken, _ = _links(partition, list(records), GENESIS, set(), keys or {}, legacy_unkeyed)
    return count, broken


@dataclass(frozen=True)
class Checkpoint:
    """The record at `offset` of the audit partition has `hash`, as its writer saw it acknowledged."""

    partition: int
    offset: int
    hash: str
    written_at: datetime

    def to_json(self) -> bytes:
        document = {
            "partition": self.partition,
            "offset": self.offset,
            "hash": self.hash,
            "written_at": self.written_at.isoformat(),
        }
        return json.dumps(document, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_json(cls, raw: bytes) -> Checkpoint:
        """Raises ValueError for anything but a checkpoint."""
        try:
            document = json.loads(raw)
            written_at = datetime.fromisoformat(document["written_at"])
            checkpoint = cls(
                int(document["partition"]), int(document["offset"]), str(document["hash"]), written_at
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"not an audit checkpoint: {exc}") from None
        if written_at.tzinfo is None:
            raise ValueError("not an audit checkpoint: written_at has no time zone")
        return checkpoint


@dataclass(frozen=True)
class PartitionCheck:
    partition: int
    records: int  # records read
    removed_by_retention: int  # records before the first one read, gone by retention
    problem: Break | None


def check_partition(
    partition: int,
    records: Iterable[tuple[int, bytes]],
    end: int,
    checkpoints: Iterable[Checkpoint],
    removable_before: datetime | None,
    keys: Mapping[str, bytes] | None = None,
    legacy_unkeyed: bool = False,
) -> PartitionCheck:
    """Check what is left of one partition: `records` (offset, value) in order up to its `end`, against
    its checkpoints. Records before the first one read count as removed by retention when no
    checkpoint shows one of them written after `removable_before` (now - the topic's retention; None
    when the topic keeps records forever, so that nothing may be missing)."""
    records = list(records)
    first = records[0][0] if records else end
    mine = sorted((c for c in checkpoints if c.partition == partition), key=lambda c: c.offset)
    problems: list[Break] = []
    removed = 0
    expected_prev: str | None = GENESIS
    if first > 0:
        too_young = [c for c in mine if c.offset < first and _too_young(c, removable_before)]
        if too_young or removable_before is None:
            why = (
                f"the record at offset {too_young[-1].offset} was checkpointed at "
                f"{too_young[-1].written_at.isoformat()}, within the topic's retention"
                if too_young
                else "the topic keeps its records forever"
            )
            problems.append(Break(partition, first, f"the {first} records before it are gone, but {why}"))
        else:
            removed = first
        # The record the first one follows is gone; its hash is known only from a checkpoint.
        expected_prev = next((c.hash for c in mine if c.offset == first - 1), None)
    count, broken, hashes = _links(
        partition, records, expected_prev, {c.offset for c in mine}, keys or {}, legacy_unkeyed
    )
    if broken is not None:
        problems.append(broken)
    for checkpoint in mine:
        if checkpoint.offset >= end:
            problems.append(
                Break(
                    partition,
                    end,
                    f"the partition ends here, but the record at offset {checkpoint.offset} was checkpointed "
                    f"at {checkpoint.written_at.isoformat()}: records at its end were removed",
                )
            )
        elif checkpoint.offset >= first and hashes.get(checkpoint.offset) != checkpoint.hash:
            problems.append(
                Break(
                    partition,
                    checkpoint.offset,
                    f"not the record checkpointed at {checkpoint.written_at.isoformat()} (another hash, "
                    "or missing): rewritten or removed",
                )
            )
    problem = min(problems, key=lambda b: b.offset) if problems else None
    return PartitionCheck(partition, count, removed, problem)


def _too_young(checkpoint: Checkpoint, removable_before: datetime | None) -> bool:
    return removable_before is None or checkpoint.written_at > removable_before


def _links(
    partition: int,
    records: list[tuple[int, bytes]],
    expected_prev: str | None,
    wanted: set[int],
    keys: Mapping[str, bytes],
    legacy_unkeyed: bool = False,
) -> tuple[int, Break | None, dict[int, str]]:
    """Follow the chain; None for `expected_prev`: the first record's predecessor is unknown. Also the
    hashes of the records at the `wanted` offsets (read up to the first break)."""
    hashes: dict[int, str] = {}
    count = 0
    # Given keys, a record must be keyed; before a partition's first keyed record only when the trail is
    # known to have begun before chains were keyed.
    keyed = bool(keys) and not legacy_unkeyed
    for offset, value in records:
        count += 1
        try:
            document = json.loads(value)
        except ValueError:
            return count, Break(partition, offset, "not JSON"), hashes
        if not isinstance(document, dict) or "hash" not in document or "prev_hash" not in document:
            return count, Break(partition, offset, "no hash chain fields"), hashes
        if expected_prev is not None and document["prev_hash"] != expected_prev:
            return count, Break(partition, offset, "prev_hash does not match the record before it"), hashes
        if "chain_key" in document and not isinstance(document["chain_key"], str):
            return count, Break(partition, offset, "chain_key is not a key id"), hashes
        if keyed and "chain_key" not in document:
            why = "not keyed: written by someone without the chain key"
            return count, Break(partition, offset, why), hashes
        keyed = keyed or "chain_key" in document
        try:
            digest = _digest(document["prev_hash"], document, keys)
        except UnknownChainKey as exc:
            why = f"sealed with chain key {exc}, which this check was not given (AUDIT_CHAIN_KEYS)"
            return count, Break(partition, offset, why), hashes
        if not hmac.compare_digest(digest, str(document["hash"])):
            why = "hash does not match the record's content (or it was not sealed with the chain key)"
            return count, Break(partition, offset, why), hashes
        expected_prev = document["hash"]
        if offset in wanted:
            hashes[offset] = expected_prev
    return count, None, hashes
