"""The keys of the data subjects (handlers/personal_fields.py), in the `subject-keys` table.

Each partition keeps its own keys (the table key starts with the partition number): audit records are
written by the owner of their partition, so every key is created and destroyed in stream processing of
the partition whose records it seals. A customer is named by their pseudonym, a hold by its id.

A key lives until `ends_at`. Then its material and its id are destroyed: the entry keeps only that the
subject's key ended, and when (so that an access answer can say what was erased, and when), nothing that
leads from the subject to its records; it is itself forgotten once no audit record it sealed can still
exist. The table's changelog is the compacted topic the readers (the
projector, the in-memory projection) learn the keys from; a destroyed key's old value leaves it with
compaction (CHANGELOG_COMPACTION).
"""

from __future__ import annotations

import base64
import uuid
from collections import OrderedDict
from collections.abc import Collection, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import orjson

from handlers.personal_fields import Subject
from streams.protection.sealing import new_key
from streams.tables.partition_copies import forget_this_partitions_copy


@dataclass(frozen=True)
class SubjectKey:
    kid: str | None  # None: destroyed
    key: bytes | None  # None: destroyed
    created_at: datetime
    ends_at: datetime
    ended_at: datetime | None = None
    case_ref: str | None = None  # a hold's: the pseudonym of its case reference (to find a case's holds)
    # Why it ends when it does: "records" (while the contract runs: when the records it sealed are gone,
    # moved on as it is used), "R6" (the contract ended), "Art17" (an erasure request), "S5" (a hold's).
    why: str = "records"

    def to_json(self) -> bytes:
        document = {
            "kid": self.kid,
            "key": base64.b64encode(self.key).decode("ascii") if self.key is not None else None,
            "created_at": self.created_at.isoformat(),
            "ends_at": self.ends_at.isoformat(),
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
        }
        if self.case_ref is not None:
            document["case_ref"] = self.case_ref
        if self.why != "records":
            document["why"] = self.why
        return orjson.dumps(document)

    @classmethod
    def from_json(cls, raw: bytes) -> SubjectKey:
        document = orjson.loads(raw)
        return cls(
            kid=document.get("kid"),
            key=base64.b64decode(document["key"]) if document.get("key") else None,
            created_at=datetime.fromisoformat(document["created_at"]),
            ends_at=datetime.fromisoformat(document["ends_at"]),
            ended_at=datetime.fromisoformat(document["ended_at"]) if document.get("ended_at") else None,
            case_ref=document.get("case_ref"),
            why=document.get("why", "records"),
        )


def table_key(partition: int, subject: Subject, ref: str) -> str:
    return f"{partition}/{subject.value}/{ref}"


def parse_table_key(name: str) -> tuple[int, Subject, str]:
    partition, subject, ref = name.split("/", 2)
    return int(partition), Subject(subject), ref


CACHED = 20_000  # keys kept decoded in memory: every audit record looks one or two up


class SubjectKeys:
    def __init__(self, table: Any) -> None:
        self._table = table  # a faust table of bytes (or a test's dict with the same methods)
        # name -> decoded entry, most recently used last. The partition's owner is its only writer, so
        # the cache is right while it owns it; partitions given away are dropped (forget_partitions).
        self._cache: OrderedDict[str, SubjectKey | None] = OrderedDict()

    def get(self, name: str) -> SubjectKey | None:
        if name in self._cache:
            self._cache.move_to_end(name)
            return self._cache[name]
        raw = self._table.get(name.encode("utf-8"))
        key = SubjectKey.from_json(raw) if raw and raw != b"{}" else None
        self._remember(name, key)
        return key

    def forget_partitions(self, partitions: Collection[int]) -> None:
        prefixes = tuple(f"{p}/" for p in partitions)
        for name in [n for n in self._cache if n.startswith(prefixes)]:
            del self._cache[name]

    def _remember(self, name: str, key: SubjectKey | None) -> None:
        self._cache[name] = key
        self._cache.move_to_end(name)
        while len(self._cache) > CACHED:
            self._cache.popitem(last=False)

    def live(
        self, name: str, now: datetime, ends_at: datetime, why: str, case_ref: str | None = None
    ) -> SubjectKey:
        """The subject's key, made when it has none. After a key destroyed because the contract
        ended (R6) the new one keeps that end: a record sealed after it is unreadable as soon as the
        end is checked again. Only from inside stream processing of the key's partition."""
        known = self.get(name)
        if known is not None and known.key is not None:
            if case_ref is not None and known.case_ref is None:
                known = replace(known, case_ref=case_ref)
                self._put(name, known)
            return known
        if known is not None and known.why == "R6" and known.ends_at < ends_at:
            ends_at, why = known.ends_at, "R6"
        made = SubjectKey(uuid.uuid4().hex, new_key(), now, ends_at, case_ref=case_ref, why=why)
        self._put(name, made)
        return made

    def end_by(self, name: str, ends_at: datetime, why: str) -> SubjectKey | None:
        """Bring the key's end forward to `ends_at` (a later end changes nothing). None: no live key."""
        known = self.get(name)
        if known is None or known.key is None or known.ends_at <= ends_at:
            return None
        moved = replace(known, ends_at=ends_at, why=why)
        self._put(name, moved)
        return moved

    def move_end(self, name: str, ends_at: datetime, only_if: str) -> SubjectKey | None:
        """Move the end of a live key whose end is `only_if`'s to `ends_at`, later only."""
        known = self.get(name)
        if known is None or known.key is None or known.why != only_if or known.ends_at >= ends_at:
            return None
        moved = replace(known, ends_at=ends_at)
        self._put(name, moved)
        return moved

    def destroy(self, name: str, now: datetime) -> SubjectKey | None:
        known = self.get(name)
        if known is None or known.key is None:
            return None
        destroyed = SubjectKey(None, None, known.created_at, known.ends_at, ended_at=now, why=known.why)
        self._put(name, destroyed)
        return destroyed

    def forget(self, name: str) -> None:
        forget_this_partitions_copy(self._table, name.encode("utf-8"))
        self._cache.pop(name, None)

    def entries(self) -> Iterator[tuple[str, SubjectKey]]:
        for raw_key in list(getattr(self._table, "data", self._table).keys()):
            raw = self._table.get(raw_key)
            if raw and raw != b"{}":
                yield raw_key.decode("utf-8"), SubjectKey.from_json(raw)

    def _put(self, name: str, key: SubjectKey) -> None:
        self._table[name.encode("utf-8")] = key.to_json()
        self._remember(name, key)
