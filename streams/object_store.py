"""The object store port, its S3 implementation, and the in-memory one the unit tests use.

Deleting media means deleting every version of it: on a versioned bucket a plain DELETE only adds a
delete marker and the image stays readable through its version id.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, Protocol

# S3 answers these for a version that is already gone: for us that is success.
_ALREADY_GONE = {"NoSuchKey", "NoSuchVersion"}
_MAX_KEYS_PER_DELETE = 1000


@dataclass(frozen=True)
class DeletionReport:
    deleted: frozenset[str]  # keys of which no version is left
    failed: Mapping[str, str] = field(default_factory=dict)  # key -> why it could not be deleted


class ObjectStore(Protocol):
    async def delete_all_versions(self, bucket: str, keys: Sequence[str]) -> DeletionReport:
        """Delete every version (and delete marker) of each key. Raises when the store is unreachable."""
        ...

    async def set_legal_hold(self, bucket: str, keys: Sequence[str], on: bool) -> DeletionReport:
        """Place or lift an Object Lock legal hold on every version of each key. A bucket without
        Object Lock, or a key with no version left, counts as done. Raises when unreachable."""
        ...

    def list_objects(self, bucket: str, page_size: int = 1000) -> AsyncIterator[list[StoredObject]]:
        """The bucket's current objects, a page at a time."""
        ...


@dataclass(frozen=True)
class StoredObject:
    key: str
    last_modified: datetime


class S3ObjectStore:
    """boto3 is synchronous: every call runs on a thread of `executor`, never on the event loop."""

    def __init__(self, client: Any, executor: Executor, bucket_config_ttl: float = 60.0) -> None:
        self._client = client
        self._executor = executor
        self._bucket_config_ttl = bucket_config_ttl
        self._versioned: dict[str, tuple[bool, float]] = {}
        self._object_lock: dict[str, tuple[bool, float]] = {}

    async def delete_all_versions(self, bucket: str, keys: Sequence[str]) -> DeletionReport:
        if not keys:
            return DeletionReport(frozenset())
        deleted: set[str] = set()
        failed: dict[str, str] = {}
        if await self._is_versioned(bucket):
            versioned_keys = list(keys)
        else:
            report, versioned_keys = await self._call(self._delete_current, bucket, keys)
            deleted |= report.deleted
            failed.update(report.failed)
            if versioned_keys:  # versioning was switched on since we last asked
                self._versioned[bucket] = (True, time.monotonic())
        if versioned_keys:
            report = await self._delete_versions(bucket, versioned_keys)
            deleted |= report.deleted
            failed.update(report.failed)
        return DeletionReport(frozenset(deleted - failed.keys()), failed)

    async def _call(self, function: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    async def _is_versioned(self, bucket: str) -> bool:
        cached = self._versioned.get(bucket)
        if cached is not None and time.monotonic() - cached[1] < self._bucket_config_ttl:
            return cached[0]
        answer = await self._call(partial(self._client.get_bucket_versioning, Bucket=bucket))
        versioned = answer.get("Status") in ("Enabled", "Suspended")
        self._versioned[bucket] = (versioned, time.monotonic())
        return versioned

    async def has_object_lock(self, bucket: str) -> bool:
        cached = self._object_lock.get(bucket)
        if cached is not None and time.monotonic() - cached[1] < self._bucket_config_ttl:
            return cached[0]
        try:
            answer = await self._call(partial(self._client.get_object_lock_configuration, Bucket=bucket))
            enabled = bool(answer.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled")
        except self._client.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ObjectLockConfigurationNotFoundError":
                raise
            enabled = False
        self._object_lock[bucket] = (enabled, time.monotonic())
        return enabled

    async def set_legal_hold(self, bucket: str, keys: Sequence[str], on: bool) -> DeletionReport:
        if not keys or not await self.has_object_lock(bucket):
            return DeletionReport(frozenset(keys))
        results = await asyncio.gather(
            *(self._call(self._set_legal_hold_sync, bucket, key, on) for key in keys), return_exceptions=True
        )
        failed = {
            key: f"{type(result).__name__}: {result}"
            for key, result in zip(keys, results, strict=True)
            if isinstance(result, BaseException)
        }
        return DeletionReport(frozenset(k for k in keys if k not in failed), failed)

    def _set_legal_hold_sync(self, bucket: str, key: str, on: bool) -> None:
        status = "ON" if on else "OFF"
        for version in self._versions_of(bucket, key, include_delete_markers=False):
            self._client.put_object_legal_hold(
                Bucket=bucket, Key=key, VersionId=version, LegalHold={"Status": status}
            )

    def _delete_current(self, bucket: str, keys: Sequence[str]) -> tuple[DeletionReport, list[str]]:
        deleted: set[str] = set()
        failed: dict[str, str] = {}
        needs_versions: list[str] = []
        for start in range(0, len(keys), _MAX_KEYS_PER_DELETE):
            chunk = keys[start : start + _MAX_KEYS_PER_DELETE]
            answer = self._client.delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": key} for key in chunk], "Quiet": False}
            )
            for item in answer.get("Deleted", []):
                if item.get("DeleteMarker"):
                    needs_versions.append(item["Key"])
                else:
                    deleted.add(item["Key"])
            for error in answer.get("Errors", []):
                if error.get("Code") in _ALREADY_GONE:
                    deleted.add(error["Key"])
                else:
                    failed[error["Key"]] = f"{error.get('Code')}: {error.get('Message', '')}".strip()
        return DeletionReport(frozenset(deleted), failed), needs_versions

    async def _delete_versions(self, bucket: str, keys: Sequence[str]) -> DeletionReport:
        listings = await asyncio.gather(
            *(self._call(self._versions_of, bucket, key) for key in keys), return_exceptions=True
        )
        failed: dict[str, str] = {}
        targets: list[tuple[str, str]] = []
        for key, listing in zip(keys, listings, strict=True):
            if isinstance(listing, BaseException):
                failed[key] = f"listing versions failed: {listing}"
            else:
                targets.extend((key, version) for version in listing)
        chunks = [targets[i : i + _MAX_KEYS_PER_DELETE] for i in range(0, len(targets), _MAX_KEYS_PER_DELETE)]
        for answer in await asyncio.gather(
            *(self._call(self._delete_version_chunk, bucket, c) for c in chunks)
        ):
            failed.update(answer)
        return DeletionReport(frozenset(k for k in keys if k not in failed), failed)

    async def list_objects(self, bucket: str, page_size: int = 1000) -> AsyncIterator[list[StoredObject]]:
        token: str | None = None
        while True:
            arguments: dict[str, Any] = {"Bucket": bucket, "MaxKeys": page_size}
            if token:
                arguments["ContinuationToken"] = token
            page = await self._call(partial(self._client.list_objects_v2, **arguments))
            yield [StoredObject(item["Key"], item["LastModified"]) for item in page.get("Contents", [])]
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return

    def _versions_of(self, bucket: str, key: str, include_delete_markers: bool = True) -> list[str]:
        """Every version id (and delete-marker id) of exactly `key`."""
        found: list[str] = []
        paginator = self._client.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=bucket, Prefix=key):
            markers = page.get("DeleteMarkers", []) if include_delete_markers else []
            entries = page.get("Versions", []) + markers
            found.extend(entry["VersionId"] for entry in entries if entry["Key"] == key)
            # Listing is in key order and `key` sorts before every longer key it prefixes.
            if any(entry["Key"] != key for entry in entries):
                break
        return found

    def _delete_version_chunk(self, bucket: str, chunk: list[tuple[str, str]]) -> dict[str, str]:
        answer = self._client.delete_objects(
            Bucket=bucket,
            Delete={"Objects": [{"Key": k, "VersionId": v} for k, v in chunk], "Quiet": True},
        )
        return {
            error["Key"]: f"{error.get('Code')}: {error.get('Message', '')}".strip()
            for error in answer.get("Errors", [])
            if error.get("Code") not in _ALREADY_GONE
        }


class InMemoryObjectStore:
    """Buckets as dictionaries of version lists; `available = False` makes every call fail."""

    def __init__(self, versioned_buckets: Sequence[str] = (), locked_buckets: Sequence[str] = ()) -> None:
        self.objects: dict[str, dict[str, list[bytes]]] = {}
        self.versioned = set(versioned_buckets) | set(locked_buckets)
        self.locked = set(locked_buckets)
        self.legal_holds: set[tuple[str, str]] = set()
        self.available = True
        self.calls = 0
        self.modified: dict[tuple[str, str], datetime] = {}

    async def list_objects(self, bucket: str, page_size: int = 1000) -> AsyncIterator[list[StoredObject]]:
        self.calls += 1
        if not self.available:
            raise ConnectionError("object store unavailable")
        keys = sorted(k for k, versions in self.objects.get(bucket, {}).items() if versions)
        for start in range(0, len(keys), page_size):
            yield [StoredObject(k, self.modified[(bucket, k)]) for k in keys[start : start + page_size]]

    def put(self, bucket: str, key: str, body: bytes = b"image", modified: datetime | None = None) -> None:
        self.modified[(bucket, key)] = modified or datetime.now(UTC)
        versions = self.objects.setdefault(bucket, {}).setdefault(key, [])
        if bucket in self.versioned:
            versions.append(body)
        else:
            versions[:] = [body]

    def exists(self, bucket: str, key: str) -> bool:
        return bool(self.objects.get(bucket, {}).get(key))

    async def delete_all_versions(self, bucket: str, keys: Sequence[str]) -> DeletionReport:
        self.calls += 1
        if not self.available:
            raise ConnectionError("object store unavailable")
        failed = {key: "AccessDenied: legal hold" for key in keys if (bucket, key) in self.legal_holds}
        for key in keys:
            if key not in failed:
                self.objects.get(bucket, {}).pop(key, None)
        return DeletionReport(frozenset(k for k in keys if k not in failed), failed)

    async def set_legal_hold(self, bucket: str, keys: Sequence[str], on: bool) -> DeletionReport:
        self.calls += 1
        if not self.available:
            raise ConnectionError("object store unavailable")
        if bucket in self.locked:
            for key in keys:
                if on and self.exists(bucket, key):
                    self.legal_holds.add((bucket, key))
                elif not on:
                    self.legal_holds.discard((bucket, key))
        return DeletionReport(frozenset(keys))
