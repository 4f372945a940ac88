"""The object store port, its S3 implementation, and the in-memory one the unit tests use.

Deleting media means deleting every version of it: on a versioned bucket a plain DELETE only adds a
delete marker and the image stays readable through its version id.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Iterator, Mapping, MutableSet, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

# S3 answers these for a version that is already gone: for us that is success.
_ALREADY_GONE = {"NoSuchKey", "NoSuchVersion"}
_MAX_KEYS_PER_DELETE = 1000  # DeleteObjects takes at most this many keys
_MAX_KEYS_PER_LISTING = 1000  # AWS answers at most this many keys per ListObjectsV2 page


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
        _raise_if_unreachable(results)
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
                    failed[error["Key"]] = failure_reason(error)
        return DeletionReport(frozenset(deleted), failed), needs_versions

    async def _delete_versions(self, bucket: str, keys: Sequence[str]) -> DeletionReport:
        listings = await asyncio.gather(
            *(self._call(self._versions_of, bucket, key) for key in keys), return_exceptions=True
        )
        _raise_if_unreachable(listings)
        failed: dict[str, str] = {}
        targets: list[tuple[str, str]] = []
        for key, listing in zip(keys, listings, strict=True):
            if isinstance(listing, BaseException):
                failed[key] = f"listing versions failed: {failure_reason(listing)}"
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
            error["Key"]: failure_reason(error)
            for error in answer.get("Errors", [])
            if error.get("Code") not in _ALREADY_GONE
        }


def failure_reason(failure: BaseException | Mapping[str, Any]) -> str:
    """What went wrong, without the store's message: S3 messages may quote the object key (which
    names the customer), and reasons reach logs, /health and the audit trail."""
    if isinstance(failure, ClientError):
        return f"S3 {failure.response.get('Error', {}).get('Code', 'error')}"
    if isinstance(failure, BotoCoreError):
        return type(failure).__name__
    if isinstance(failure, BaseException):  # one of ours: its message names no object
        return f"{type(failure).__name__}: {str(failure)[:300]}"
    return f"S3 {failure.get('Code', 'error')}"


def _raise_if_unreachable(results: Sequence[object]) -> None:
    """Per-key calls gathered with their exceptions: S3's refusals (ClientError) are that key's failure,
    but botocore's own errors (no connection, a timeout) mean the store could not be asked at all, and
    the port promises to raise then, as the first request of a call does."""
    for result in results:
        if isinstance(result, BotoCoreError):
            raise result


class InMemoryObjectStore:
    """S3 as the service meets it, in memory, for the unit tests.

    tests/integration/test_object_store_contract.py runs the same assertions against this store and the
    S3 store on a real SeaweedFS; what it models is what that contract checks:

    - a versioned bucket (and every Object Lock bucket) keeps every version; a plain DELETE
      (`delete_object`) only adds a delete marker, and a key behind one is no longer listed;
    - legal holds are per version: `set_legal_hold` holds the versions there are now, not later ones;
    - deletions go as DeleteObjects requests of at most 1,000 keys (`delete_requests` records their
      sizes), and a version S3 refuses to delete (a legal hold) is reported per key, not raised;
    - an unknown bucket raises botocore's NoSuchBucket `ClientError`; `available = False` simulates an
      outage: every call raises botocore's `EndpointConnectionError`, as boto3 does on a refused connection;
    - listing pages hold at most 1,000 objects, as on AWS, whatever `page_size` asks.

    `put` creates a plain bucket on first use, for unit tests that never name their buckets up front.
    """

    def __init__(
        self,
        versioned_buckets: Sequence[str] = (),
        locked_buckets: Sequence[str] = (),
        plain_buckets: Sequence[str] = (),
    ) -> None:
        self._buckets: dict[str, _Bucket] = {}
        for name in plain_buckets:
            self.create_bucket(name)
        for name in versioned_buckets:
            self.create_bucket(name, versioned=True)
        for name in locked_buckets:
            self.create_bucket(name, object_lock=True)
        self.available = True
        self.calls = 0  # calls through the ObjectStore port
        self.delete_requests: list[int] = []  # keys per DeleteObjects request, as S3 would have received them
        self._ids = itertools.count(1)

    # --- what a test (or "someone else") does to the bucket, as it could with the S3 API ---------------

    def create_bucket(self, name: str, *, versioned: bool = False, object_lock: bool = False) -> None:
        """Object Lock implies versioning, as on S3."""
        bucket = self._buckets.setdefault(name, _Bucket())
        bucket.versioned |= versioned or object_lock
        bucket.locked |= object_lock

    def put(self, bucket: str, key: str, body: bytes = b"image", modified: datetime | None = None) -> str:
        """PutObject; the new version's id ("null" in a bucket that is not versioned)."""
        self.create_bucket(bucket)
        state = self._buckets[bucket]
        version = _Version(self._new_id(state), body, modified or datetime.now(UTC))
        versions = state.keys.setdefault(key, [])
        if not state.versioned:
            versions.clear()
        versions.append(version)
        return version.version_id

    def delete_object(self, bucket: str, key: str) -> str | None:
        """A plain DeleteObject (no version id): in a versioned bucket it only adds a delete marker (its id
        is returned) and every version stays; otherwise the object goes."""
        state = self._bucket(bucket)
        if not state.versioned:
            state.keys.pop(key, None)
            return None
        marker = _Version(self._new_id(state), None, datetime.now(UTC))
        state.keys.setdefault(key, []).append(marker)
        return marker.version_id

    def put_legal_hold(self, bucket: str, key: str, version_id: str, on: bool) -> None:
        """PutObjectLegalHold on one version; raises the ClientError S3 answers."""
        state = self._bucket(bucket)
        if not state.locked:
            raise _client_error(
                "InvalidRequest", "Bucket is missing Object Lock Configuration", "PutObjectLegalHold"
            )
        if any(key.startswith(prefix) for prefix in state.legal_hold_denied):
            raise _client_error("AccessDenied", "Access Denied.", "PutObjectLegalHold")
        for version in state.keys.get(key, []):
            if version.version_id == version_id:
                version.legal_hold = on
                return
        raise _client_error("NoSuchVersion", "The specified version does not exist.", "PutObjectLegalHold")

    def deny_legal_holds(self, bucket: str, prefix: str) -> None:
        """As a bucket policy denying s3:PutObjectLegalHold on `prefix*` would."""
        self._bucket(bucket).legal_hold_denied.add(prefix)

    def versions(self, bucket: str, key: str) -> list[ObjectVersion]:
        """ListObjectVersions for exactly `key`: its versions and delete markers, newest first."""
        entries = self._bucket(bucket).keys.get(key, [])
        return [
            ObjectVersion(key, v.version_id, v.body is None, v is entries[-1], v.legal_hold, v.last_modified)
            for v in reversed(entries)
        ]

    def exists(self, bucket: str, key: str) -> bool:
        """Whether any version of `key` still holds data: what "deleted" in this product denies. (A GET may
        already answer 404 when a delete marker hides the versions.)"""
        state = self._buckets.get(bucket)
        return state is not None and any(v.body is not None for v in state.keys.get(key, []))

    @property
    def legal_holds(self) -> _LegalHoldsByKey:
        """A per-key view: `(bucket, key) in store.legal_holds` when a version of it is held;
        `store.legal_holds.add((bucket, key))` holds every version there is now, turning Object Lock on
        for the bucket (S3 allows legal holds nowhere else)."""
        return _LegalHoldsByKey(self)

    # --- the ObjectStore port -----------------------------------------------------------------------------

    async def delete_all_versions(self, bucket: str, keys: Sequence[str]) -> DeletionReport:
        self._reach()
        if not keys:
            return DeletionReport(frozenset())
        state = self._bucket(bucket)
        targets: list[tuple[str, str | None]] = []
        for key in keys:
            if state.versioned:
                targets.extend((key, v.version_id) for v in reversed(state.keys.get(key, [])))
            else:
                targets.append((key, None))
        failed: dict[str, str] = {}
        for start in range(0, len(targets), _MAX_KEYS_PER_DELETE):
            failed.update(self._delete_objects(state, targets[start : start + _MAX_KEYS_PER_DELETE]))
        return DeletionReport(frozenset(k for k in keys if k not in failed), failed)

    async def set_legal_hold(self, bucket: str, keys: Sequence[str], on: bool) -> DeletionReport:
        self._reach()
        if not keys:
            return DeletionReport(frozenset())
        state = self._bucket(bucket)
        if not state.locked:
            return DeletionReport(frozenset(keys))
        failed: dict[str, str] = {}
        for key in keys:
            for version in [v for v in reversed(state.keys.get(key, [])) if v.body is not None]:
                try:
                    self.put_legal_hold(bucket, key, version.version_id, on)
                except ClientError as exc:
                    failed[key] = failure_reason(exc)
                    break
        return DeletionReport(frozenset(k for k in keys if k not in failed), failed)

    async def list_objects(self, bucket: str, page_size: int = 1000) -> AsyncIterator[list[StoredObject]]:
        self.calls += 1
        size = max(1, min(page_size, _MAX_KEYS_PER_LISTING))
        after: str | None = None
        while True:  # a page at a time, like ListObjectsV2 with a continuation token
            self._raise_if_unavailable()
            state = self._bucket(bucket)
            current = sorted(
                k for k, versions in state.keys.items()
                if versions and versions[-1].body is not None and (after is None or k > after)
            )  # fmt: skip
            page = current[:size]
            yield [StoredObject(k, state.keys[k][-1].last_modified) for k in page]
            if len(current) <= size:
                return
            after = page[-1]

    # --- inside ----------------------------------------------------------------------------------------

    def _reach(self) -> None:
        self.calls += 1
        self._raise_if_unavailable()

    def _raise_if_unavailable(self) -> None:
        if not self.available:
            raise EndpointConnectionError(endpoint_url="http://object-store.invalid")

    def _bucket(self, name: str) -> _Bucket:
        state = self._buckets.get(name)
        if state is None:
            raise _client_error("NoSuchBucket", "The specified bucket does not exist", "HeadBucket", name)
        return state

    def _new_id(self, state: _Bucket) -> str:
        return f"v{next(self._ids):08}" if state.versioned else "null"

    def _delete_objects(self, state: _Bucket, objects: list[tuple[str, str | None]]) -> dict[str, str]:
        """One DeleteObjects request: key -> the error S3 reports for it in `Errors`."""
        if len(objects) > _MAX_KEYS_PER_DELETE:  # AWS: MalformedXML; SeaweedFS: InvalidArgument
            raise _client_error("MalformedXML", "The XML you provided was not well-formed", "DeleteObjects")
        self.delete_requests.append(len(objects))
        errors: dict[str, str] = {}
        for key, version_id in objects:
            versions = state.keys.get(key, [])
            if version_id is None:  # only sent to a bucket that is not versioned
                versions.clear()
            else:
                for version in versions:
                    if version.version_id == version_id:
                        if version.legal_hold:
                            errors[key] = "AccessDenied: Access Denied."
                        else:
                            versions.remove(version)
                        break
                # A version already gone counts as deleted, as NoSuchVersion does for the S3 store.
            if not versions:
                state.keys.pop(key, None)
        return errors


@dataclass(frozen=True)
class ObjectVersion:
    """One entry of a ListObjectVersions answer."""

    key: str
    version_id: str
    is_delete_marker: bool
    is_latest: bool
    legal_hold: bool
    last_modified: datetime


@dataclass
class _Version:
    version_id: str
    body: bytes | None  # None: a delete marker
    last_modified: datetime
    legal_hold: bool = False


@dataclass
class _Bucket:
    versioned: bool = False
    locked: bool = False
    keys: dict[str, list[_Version]] = field(default_factory=dict)  # oldest version first
    legal_hold_denied: set[str] = field(default_factory=set)  # key prefixes


class _LegalHoldsByKey(MutableSet[tuple[str, str]]):
    def __init__(self, store: InMemoryObjectStore) -> None:
        self._store = store

    def _held(self) -> set[tuple[str, str]]:
        return {
            (name, key)
            for name, state in self._store._buckets.items()
            for key, versions in state.keys.items()
            if any(v.legal_hold for v in versions)
        }

    def __contains__(self, ref: object) -> bool:
        return ref in self._held()

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._held())

    def __len__(self) -> int:
        return len(self._held())

    def add(self, ref: tuple[str, str]) -> None:
        bucket, key = ref
        self._store.create_bucket(bucket, object_lock=True)
        for version in self._store.versions(bucket, key):
            if not version.is_delete_marker:
                self._store.put_legal_hold(bucket, key, version.version_id, True)

    def discard(self, ref: tuple[str, str]) -> None:
        bucket, key = ref
        if bucket in self._store._buckets and self._store._buckets[bucket].locked:
            for version in self._store.versions(bucket, key):
                if version.legal_hold:
                    self._store.put_legal_hold(bucket, key, version.version_id, False)


def _client_error(code: str, message: str, operation: str, bucket: str | None = None) -> ClientError:
    error: dict[str, Any] = {"Error": {"Code": code, "Message": message}}
    if bucket is not None:
        error["Error"]["BucketName"] = bucket
    return ClientError(error, operation)
