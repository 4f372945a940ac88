"""One contract for both object stores: every test runs against the in-memory store the unit tests use
and against the S3 store on the real SeaweedFS of the session stack, through the ObjectStore port.

The buckets are configured as the service's are: a plain one (like `alarm-media`), one with Object Lock
(like `alarm-evidence`, which makes it versioned), and a versioned one without Object Lock. What a test
believes about a bucket it reads from the listing of every version (ListObjectVersions), never from the
store's own report alone. "Deleted", in this product, means no version and no delete marker left.

The S3 store talks to SeaweedFS through a TCP relay the tests can cut, for a real outage; it is built
with the service's own client settings (`make_s3_client`).

Where SeaweedFS differs from AWS S3 (checked against SeaweedFS 4.x here, AWS from its documentation):
- ListObjectsV2 with MaxKeys above 1,000: AWS answers at most 1,000, SeaweedFS as many as asked. The
  in-memory store caps at 1,000 like AWS; the service asks for 1,000 (sweep.PAGE_SIZE), so this only
  asserts pages up to 1,000.
- DeleteObjects with more than 1,000 keys: AWS refuses with MalformedXML, SeaweedFS with InvalidArgument;
  the stores never send one, which is what is asserted.
- A deny policy on s3:DeleteObjectVersion is not enforced by SeaweedFS's DeleteObjects, so refused
  deletions are provoked with legal holds only (AccessDenied per key on both).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from config.settings import load_settings
from streams.local.stack import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, LocalStack
from streams.s3.client import make_s3_client
from streams.s3.object_store import (
    DeletionReport,
    InMemoryObjectStore,
    ObjectStore,
    S3ObjectStore,
    StoredObject,
)

pytestmark = pytest.mark.integration

KINDS = ("plain", "versioned", "locked")
VERSIONED_KINDS = ("versioned", "locked")


@dataclass(frozen=True)
class Entry:
    """One entry of the listing of every version."""

    version_id: str
    is_delete_marker: bool
    legal_hold: bool


class Backend(Protocol):
    """The store under test, and what a test needs to see and do around it with the S3 API itself."""

    store: ObjectStore
    name: str

    def bucket(self, kind: str) -> str: ...
    def new_bucket(self, kind: str) -> str: ...
    def put(self, bucket: str, key: str, body: bytes = b"image") -> str: ...
    def delete(self, bucket: str, key: str) -> None: ...
    def versions(self, bucket: str, key: str) -> list[Entry]: ...
    def hold(self, bucket: str, key: str, version_id: str, on: bool) -> None: ...
    def deny_legal_holds(self, bucket: str, prefix: str) -> None: ...
    def outage(self) -> contextlib.AbstractContextManager[None]: ...
    def delete_request_sizes(self) -> list[int]: ...


# --- the in-memory store ------------------------------------------------------------------------------


class MemoryBackend:
    name = "memory"

    def __init__(self) -> None:
        self._names = {kind: f"{kind}-bucket" for kind in KINDS}
        self.memory = InMemoryObjectStore(
            plain_buckets=[self._names["plain"]],
            versioned_buckets=[self._names["versioned"]],
            locked_buckets=[self._names["locked"]],
        )
        self.store: ObjectStore = self.memory
        self._created = 0

    def bucket(self, kind: str) -> str:
        return self._names[kind]

    def new_bucket(self, kind: str) -> str:
        self._created += 1
        name = f"{kind}-extra-{self._created}"
        self.memory.create_bucket(name, versioned=kind == "versioned", object_lock=kind == "locked")
        return name

    def put(self, bucket: str, key: str, body: bytes = b"image") -> str:
        return self.memory.put(bucket, key, body)

    def delete(self, bucket: str, key: str) -> None:
        self.memory.delete_object(bucket, key)

    def versions(self, bucket: str, key: str) -> list[Entry]:
        return [
            Entry(v.version_id, v.is_delete_marker, v.legal_hold) for v in self.memory.versions(bucket, key)
        ]

    def hold(self, bucket: str, key: str, version_id: str, on: bool) -> None:
        self.memory.put_legal_hold(bucket, key, version_id, on)

    def deny_legal_holds(self, bucket: str, prefix: str) -> None:
        self.memory.deny_legal_holds(bucket, prefix)

    @contextlib.contextmanager
    def outage(self) -> Iterator[None]:
        self.memory.available = False
        try:
            yield
        finally:
            self.memory.available = True

    def delete_request_sizes(self) -> list[int]:
        return list(self.memory.delete_requests)


# --- the S3 store on SeaweedFS ------------------------------------------------------------------------


class Relay:
    """A TCP relay in front of SeaweedFS. Cut, its port refuses connections and the open ones are closed:
    to the S3 client that is an unreachable endpoint."""

    def __init__(self, upstream_port: int) -> None:
        self._upstream = ("127.0.0.1", upstream_port)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._server: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        server = socket.create_server(("127.0.0.1", self.port))  # SO_REUSEADDR: the port comes back
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def cut(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            with contextlib.suppress(OSError):
                server.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            server.close()
        with self._lock:
            connections, self._open = self._open, set()
        for connection in connections:
            _close(connection)

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self._upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open -= {source, sink}
            _close(source)
            _close(sink)


def _close(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)  # wakes the pump blocked in recv() on it
    connection.close()


@dataclass
class SeaweedWorld:
    """Module-wide: the buckets, an admin client straight to SeaweedFS, the relay and the service's client."""

    stack: LocalStack
    admin: Any
    relay: Relay
    client: Any  # make_s3_client, through the relay
    names: dict[str, str]
    delete_requests: list[int] = field(default_factory=list)


@pytest.fixture(scope="module")
def seaweed(stack: LocalStack) -> Iterator[SeaweedWorld]:
    suffix = uuid.uuid4().hex[:8]
    names = {kind: f"contract-{kind}-{suffix}" for kind in KINDS}
    admin = stack.s3_client(max_pool_connections=16)
    stack.create_bucket(names["plain"])
    stack.create_bucket(names["versioned"])
    admin.put_bucket_versioning(Bucket=names["versioned"], VersioningConfiguration={"Status": "Enabled"})
    stack.create_bucket(names["locked"], object_lock=True)
    relay = Relay(stack.ports.s3)
    settings = load_settings(
        kafka_bootstrap_servers="unused:9092",
        media_buckets=",".join(names.values()),
        s3_endpoint_url=f"http://127.0.0.1:{relay.port}",
        aws_access_key_id=LOCAL_ACCESS_KEY,
        aws_secret_access_key=LOCAL_SECRET_KEY,
        aws_region="us-east-1",
    )
    world = SeaweedWorld(stack, admin, relay, make_s3_client(settings), names)

    def record(params: dict[str, Any], **_: Any) -> None:
        world.delete_requests.append(len(params["Delete"]["Objects"]))

    world.client.meta.events.register("provide-client-params.s3.DeleteObjects", record)
    try:
        yield world
    finally:
        relay.cut()


class SeaweedBackend:
    name = "s3"

    def __init__(self, world: SeaweedWorld, executor: ThreadPoolExecutor) -> None:
        self._world = world
        self._admin = world.admin
        self.store: ObjectStore = S3ObjectStore(world.client, executor)
        self._policies: list[str] = []
        world.delete_requests.clear()

    def bucket(self, kind: str) -> str:
        return self._world.names[kind]

    def new_bucket(self, kind: str) -> str:
        name = f"contract-{kind}-{uuid.uuid4().hex[:8]}"
        self._world.stack.create_bucket(name, object_lock=kind == "locked")
        if kind == "versioned":
            self._admin.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        return name

    def put(self, bucket: str, key: str, body: bytes = b"image") -> str:
        return str(self._admin.put_object(Bucket=bucket, Key=key, Body=body).get("VersionId", "null"))

    def delete(self, bucket: str, key: str) -> None:
        self._admin.delete_object(Bucket=bucket, Key=key)

    def versions(self, bucket: str, key: str) -> list[Entry]:
        entries: list[Entry] = []
        paginator = self._admin.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=bucket, Prefix=key):
            for version in page.get("Versions", []):
                if version["Key"] == key:
                    entries.append(Entry(version["VersionId"], False, self._held(bucket, key, version)))
            for marker in page.get("DeleteMarkers", []):
                if marker["Key"] == key:
                    entries.append(Entry(marker["VersionId"], True, False))
        return entries

    def _held(self, bucket: str, key: str, version: dict[str, Any]) -> bool:
        try:
            answer = self._admin.get_object_legal_hold(Bucket=bucket, Key=key, VersionId=version["VersionId"])
        except ClientError as exc:  # no legal hold ever set, or a bucket without Object Lock
            if exc.response["Error"]["Code"] in ("NoSuchObjectLegalHold", "InvalidRequest"):
                return False
            raise
        return bool(answer["LegalHold"]["Status"] == "ON")

    def hold(self, bucket: str, key: str, version_id: str, on: bool) -> None:
        self._admin.put_object_legal_hold(
            Bucket=bucket, Key=key, VersionId=version_id, LegalHold={"Status": "ON" if on else "OFF"}
        )

    def deny_legal_holds(self, bucket: str, prefix: str) -> None:
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": ["s3:PutObjectLegalHold"],
                    "Resource": [f"arn:aws:s3:::{bucket}/{prefix}*"],
                }
            ],
        }
        self._admin.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
        self._policies.append(bucket)

    @contextlib.contextmanager
    def outage(self) -> Iterator[None]:
        self._world.relay.cut()
        try:
            yield
        finally:
            self._world.relay.restore()

    def delete_request_sizes(self) -> list[int]:
        return list(self._world.delete_requests)

    def close(self) -> None:
        for bucket in self._policies:
            self._admin.delete_bucket_policy(Bucket=bucket)


@pytest.fixture(params=["memory", "s3"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    if request.param == "memory":
        yield MemoryBackend()
        return
    world: SeaweedWorld = request.getfixturevalue("seaweed")
    with ThreadPoolExecutor(8) as executor:
        seaweed_backend = SeaweedBackend(world, executor)
        try:
            yield seaweed_backend
        finally:
            seaweed_backend.close()


@pytest.fixture
def prefix() -> str:
    """Keys of one test, apart from every other test's in the shared buckets."""
    return f"t-{uuid.uuid4().hex[:10]}/"


def put_many(backend: Backend, bucket: str, keys: list[str], body: bytes = b"x") -> None:
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda key: backend.put(bucket, key, body), keys))


async def listed(store: ObjectStore, bucket: str, page_size: int = 1000) -> list[list[StoredObject]]:
    return [page async for page in store.list_objects(bucket, page_size)]


def assert_done(report: DeletionReport, keys: Collection[str]) -> None:
    assert report.deleted == set(keys)
    assert report.failed == {}


def data_versions(entries: list[Entry]) -> list[str]:
    return [e.version_id for e in entries if not e.is_delete_marker]


# --- versions and delete markers ----------------------------------------------------------------------


class TestVersionsAndDeleteMarkers:
    @pytest.mark.parametrize("kind", VERSIONED_KINDS)
    async def test_a_plain_delete_leaves_a_delete_marker_and_every_version(
        self, backend: Backend, kind: str, prefix: str
    ) -> None:
        """What someone else's DELETE does; it is why "deleted" here means every version gone."""
        bucket, key = backend.bucket(kind), f"{prefix}clip.mp4"
        first = backend.put(bucket, key, b"first")
        second = backend.put(bucket, key, b"second")
        backend.delete(bucket, key)
        entries = backend.versions(bucket, key)
        assert data_versions(entries) == [second, first]  # newest first
        assert [e.is_delete_marker for e in entries].count(True) == 1
        listing = [o.key for page in await listed(backend.store, bucket) for o in page]
        assert key not in listing  # a key behind a delete marker is not a current object

    @pytest.mark.parametrize("kind", VERSIONED_KINDS)
    async def test_deleting_removes_every_version_and_delete_marker_and_nothing_else(
        self, backend: Backend, kind: str, prefix: str
    ) -> None:
        bucket, key = backend.bucket(kind), f"{prefix}clip.mp4"
        backend.put(bucket, key, b"first")
        backend.put(bucket, key, b"second")
        backend.delete(bucket, key)
        backend.put(bucket, key, b"third, after the delete marker")
        neighbours = [f"{prefix}clip.mp4x", f"{prefix}clip.mp4/thumb.jpg", f"{prefix}clip.mp"]
        for neighbour in neighbours:
            backend.put(bucket, neighbour, b"a different object")
        assert len(backend.versions(bucket, key)) == 4

        report = await backend.store.delete_all_versions(bucket, [key])

        assert_done(report, {key})
        assert backend.versions(bucket, key) == []
        for neighbour in neighbours:
            assert len(backend.versions(bucket, neighbour)) == 1

    @pytest.mark.parametrize("kind", VERSIONED_KINDS)
    async def test_a_key_of_only_delete_markers_is_cleared(
        self, backend: Backend, kind: str, prefix: str
    ) -> None:
        bucket, key = backend.bucket(kind), f"{prefix}never-stored.jpg"
        backend.delete(bucket, key)  # in a versioned bucket even a DELETE of nothing leaves a marker
        backend.delete(bucket, key)
        assert [e.is_delete_marker for e in backend.versions(bucket, key)] == [True, True]
        report = await backend.store.delete_all_versions(bucket, [key])
        assert_done(report, {key})
        assert backend.versions(bucket, key) == []

    @pytest.mark.parametrize("kind", KINDS)
    async def test_deleting_what_is_not_there_succeeds_and_adds_no_delete_marker(
        self, backend: Backend, kind: str, prefix: str
    ) -> None:
        bucket, key = backend.bucket(kind), f"{prefix}never-was.jpg"
        report = await backend.store.delete_all_versions(bucket, [key])
        assert_done(report, {key})
        assert backend.versions(bucket, key) == []

    async def test_in_a_plain_bucket_the_object_goes_and_its_neighbours_stay(
        self, backend: Backend, prefix: str
    ) -> None:
        bucket = backend.bucket("plain")
        keys = [f"{prefix}{n}.jpg" for n in (1, 2, 3)]
        for key in keys:
            backend.put(bucket, key)
        backend.put(bucket, keys[0], b"overwritten: still one version")
        report = await backend.store.delete_all_versions(bucket, keys[:2])
        assert_done(report, set(keys[:2]))
        assert backend.versions(bucket, keys[0]) == []
        assert backend.versions(bucket, keys[1]) == []
        assert [e.is_delete_marker for e in backend.versions(bucket, keys[2])] == [False]

    async def test_nothing_to_delete_is_no_request(self, backend: Backend) -> None:
        report = await backend.store.delete_all_versions(backend.bucket("locked"), [])
        assert_done(report, set())
        assert backend.delete_request_sizes() == []


# --- legal holds, per version -------------------------------------------------------------------------


class TestLegalHolds:
    async def test_a_hold_covers_every_version_there_is_now_but_not_later_ones(
        self, backend: Backend, prefix: str
    ) -> None:
        bucket, key, other = backend.bucket("locked"), f"{prefix}evidence.mp4", f"{prefix}evidence.mp4x"
        first = backend.put(bucket, key, b"first")
        second = backend.put(bucket, key, b"second")
        backend.delete(bucket, key)  # versions hidden behind a delete marker are held all the same
        backend.put(bucket, other)

        report = await backend.store.set_legal_hold(bucket, [key], on=True)
        later = backend.put(bucket, key, b"stored after the hold")

        assert_done(report, {key})
        held = {e.version_id for e in backend.versions(bucket, key) if e.legal_hold}
        assert held == {first, second}
        assert later not in held
        assert not any(e.legal_hold for e in backend.versions(bucket, other))

    async def test_a_held_version_survives_a_batch_delete_that_removes_the_rest(
        self, backend: Backend, prefix: str
    ) -> None:
        bucket = backend.bucket("locked")
        key, free = f"{prefix}held.jpg", f"{prefix}free.jpg"
        held_version = backend.put(bucket, key, b"evidence")
        await backend.store.set_legal_hold(bucket, [key], on=True)
        backend.put(bucket, key, b"a later version, not held")
        backend.delete(bucket, key)
        backend.put(bucket, free, b"one")
        backend.put(bucket, free, b"two")

        report = await backend.store.delete_all_versions(bucket, [key, free])

        # Refused deletions come back per key in the report, not as an exception.
        assert report.deleted == {free}
        assert set(report.failed) == {key}
        assert "AccessDenied" in report.failed[key]
        assert backend.versions(bucket, key) == [Entry(held_version, False, True)]  # the rest went
        assert backend.versions(bucket, free) == []

        released = await backend.store.set_legal_hold(bucket, [key], on=False)
        assert_done(released, {key})
        assert not any(e.legal_hold for e in backend.versions(bucket, key))
        report = await backend.store.delete_all_versions(bucket, [key])
        assert_done(report, {key})
        assert backend.versions(bucket, key) == []

    async def test_a_hold_someone_else_placed_on_one_version_keeps_that_version(
        self, backend: Backend, prefix: str
    ) -> None:
        bucket, key = backend.bucket("locked"), f"{prefix}theirs.jpg"
        old = backend.put(bucket, key, b"old")
        backend.put(bucket, key, b"new")
        backend.hold(bucket, key, old, True)
        report = await backend.store.delete_all_versions(bucket, [key])
        assert "AccessDenied" in report.failed[key]
        assert [e.version_id for e in backend.versions(bucket, key)] == [old]

    @pytest.mark.parametrize("kind", ["plain", "versioned"])
    async def test_without_object_lock_a_hold_is_done_and_nothing_is_held(
        self, backend: Backend, kind: str, prefix: str
    ) -> None:
        bucket, key = backend.bucket(kind), f"{prefix}media.jpg"
        backend.put(bucket, key)
        for on in (True, False):
            report = await backend.store.set_legal_hold(bucket, [key], on=on)
            assert_done(report, {key})
        assert not any(e.legal_hold for e in backend.versions(bucket, key))
        if kind == "plain":  # S3 allows a legal hold nowhere without Object Lock...
            with pytest.raises(ClientError) as refused:
                backend.hold(bucket, key, backend.versions(bucket, key)[0].version_id, True)
            assert refused.value.response["Error"]["Code"] == "InvalidRequest"
        # ...but SeaweedFS accepts one on a versioned bucket without Object Lock (AWS: InvalidRequest).
        # The S3 store asks for the bucket's Object Lock configuration first, so it never sends one.

    async def test_a_key_with_no_version_left_counts_as_done(self, backend: Backend, prefix: str) -> None:
        bucket, key = backend.bucket("locked"), f"{prefix}already-gone.jpg"
        for on in (True, False):
            report = await backend.store.set_legal_hold(bucket, [key], on=on)
            assert_done(report, {key})
        assert backend.versions(bucket, key) == []

    async def test_a_refused_hold_is_reported_for_its_key_and_the_others_are_placed(
        self, backend: Backend, prefix: str
    ) -> None:
        bucket = backend.bucket("locked")
        allowed, refused = f"{prefix}allowed.jpg", f"{prefix}denied/evidence.jpg"
        backend.put(bucket, allowed)
        backend.put(bucket, refused)
        backend.deny_legal_holds(bucket, f"{prefix}denied/")

        report = await backend.store.set_legal_hold(bucket, [allowed, refused], on=True)

        assert report.deleted == {allowed}
        assert set(report.failed) == {refused}
        assert "AccessDenied" in report.failed[refused]
        assert [e.legal_hold for e in backend.versions(bucket, allowed)] == [True]
        assert [e.legal_hold for e in backend.versions(bucket, refused)] == [False]


# --- the 1,000-key limit of DeleteObjects -------------------------------------------------------------


class TestLargeBatches:
    async def test_more_keys_than_one_request_takes_go_in_requests_of_at_most_1000(
        self, backend: Backend, prefix: str
    ) -> None:
        bucket = backend.bucket("plain")
        keys = [f"{prefix}{i:05}.jpg" for i in range(1100)]
        put_many(backend, bucket, keys)
        report = await backend.store.delete_all_versions(bucket, keys)
        assert_done(report, set(keys))
        sizes = backend.delete_request_sizes()
        assert sum(sizes) == 1100
        assert max(sizes) <= 1000
        assert [
            o.key for page in await listed(backend.store, bucket) for o in page if o.key.startswith(prefix)
        ] == []

    async def test_more_versions_than_one_request_takes_go_in_requests_of_at_most_1000(
        self, backend: Backend, prefix: str
    ) -> None:
        bucket = backend.bucket("versioned")
        keys = [f"{prefix}{i:04}.jpg" for i in range(400)]
        put_many(backend, bucket, keys, b"one")
        put_many(backend, bucket, keys, b"two")
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda key: backend.delete(bucket, key), keys))  # 1,200 versions and markers
        report = await backend.store.delete_all_versions(bucket, keys)
        assert_done(report, set(keys))
        sizes = backend.delete_request_sizes()
        assert sum(sizes) == 1200
        assert max(sizes) <= 1000
        for key in keys[:: len(keys) // 10]:
            assert backend.versions(bucket, key) == []


# --- listing ------------------------------------------------------------------------------------------


class TestListing:
    async def test_beyond_1000_objects_the_listing_goes_on_a_page_at_a_time(self, backend: Backend) -> None:
        bucket = backend.new_bucket("plain")
        keys = [f"media/{i:05}.jpg" for i in range(1105)]
        put_many(backend, bucket, keys)
        pages = await listed(backend.store, bucket, page_size=1000)
        assert [len(page) for page in pages] == [1000, 105]
        assert [o.key for page in pages for o in page] == keys  # each once, in key order

    async def test_small_pages_and_upload_times(self, backend: Backend, prefix: str) -> None:
        bucket = backend.new_bucket("locked")
        keys = [f"{prefix}{i}.jpg" for i in range(5)]
        for key in keys:
            backend.put(bucket, key)
        pages = await listed(backend.store, bucket, page_size=2)
        assert [len(page) for page in pages] == [2, 2, 1]
        listed_objects = [o for page in pages for o in page]
        assert [o.key for o in listed_objects] == keys
        assert all(o.last_modified.tzinfo is not None for o in listed_objects)

    @pytest.mark.parametrize("kind", VERSIONED_KINDS)
    async def test_only_current_objects_are_listed(self, backend: Backend, kind: str) -> None:
        bucket = backend.new_bucket(kind)
        backend.put(bucket, "a.jpg")
        backend.put(bucket, "a.jpg")
        backend.put(bucket, "hidden.jpg")
        backend.delete(bucket, "hidden.jpg")
        backend.put(bucket, "back.jpg")
        backend.delete(bucket, "back.jpg")
        backend.put(bucket, "back.jpg")
        pages = await listed(backend.store, bucket)
        assert [o.key for page in pages for o in page] == ["a.jpg", "back.jpg"]

    async def test_an_empty_bucket_lists_nothing(self, backend: Backend) -> None:
        bucket = backend.new_bucket("plain")
        assert [o for page in await listed(backend.store, bucket) for o in page] == []


# --- errors the shell handles -------------------------------------------------------------------------


async def drain(pages: AsyncIterator[list[StoredObject]]) -> None:
    async for _ in pages:
        pass


class TestUnreachableStore:
    @pytest.mark.parametrize("warm", [False, True], ids=["first-call", "after-calls"])
    async def test_every_call_raises_endpoint_connection_error_and_nothing_changes(
        self, backend: Backend, warm: bool, prefix: str
    ) -> None:
        """The deleter, the legal-hold keeper and the sweep treat a raise as the store being down (and
        count it in s3_errors); keys the store reports as failed they count as refusals instead."""
        plain, versioned, locked = (backend.bucket(kind) for kind in KINDS)
        key = f"{prefix}kept.jpg"
        for bucket in (plain, versioned, locked):
            backend.put(bucket, key)
        before = {bucket: backend.versions(bucket, key) for bucket in (plain, versioned, locked)}
        if warm:  # the S3 store has learnt each bucket's versioning and Object Lock by now
            for bucket in (plain, versioned, locked):
                await backend.store.delete_all_versions(bucket, [f"{prefix}warm-up.jpg"])
                await backend.store.set_legal_hold(bucket, [f"{prefix}warm-up.jpg"], on=False)

        with backend.outage():
            for bucket in (plain, versioned, locked):
                with pytest.raises(EndpointConnectionError):
                    await backend.store.delete_all_versions(bucket, [key])
                with pytest.raises(EndpointConnectionError):
                    await drain(backend.store.list_objects(bucket))
            # Only where there is Object Lock: on a bucket it knows has none, the S3 store answers "done"
            # from its cache of bucket settings (for bucket_config_ttl) without a request that could fail.
            with pytest.raises(EndpointConnectionError):
                await backend.store.set_legal_hold(locked, [key], on=True)

        assert {bucket: backend.versions(bucket, key) for bucket in before} == before
        for bucket in (plain, versioned, locked):  # and the same store works again
            report = await backend.store.delete_all_versions(bucket, [key])
            assert report.deleted == {key}
            assert backend.versions(bucket, key) == []

    async def test_a_bucket_that_does_not_exist_raises_no_such_bucket(self, backend: Backend) -> None:
        bucket = f"missing-{uuid.uuid4().hex[:8]}"
        calls = [
            backend.store.delete_all_versions(bucket, ["a.jpg"]),
            backend.store.set_legal_hold(bucket, ["a.jpg"], on=True),
            drain(backend.store.list_objects(bucket)),
        ]
        for call in calls:
            with pytest.raises(ClientError) as raised:
                await call
            assert raised.value.response["Error"]["Code"] == "NoSuchBucket"


async def test_concurrent_calls_are_independent(backend: Backend, prefix: str) -> None:
    """The deleter runs several batches at once on the same store."""
    bucket = backend.bucket("locked")
    batches = [[f"{prefix}{b}-{i}.jpg" for i in range(20)] for b in range(4)]
    for batch in batches:
        for key in batch:
            backend.put(bucket, key)
            backend.put(bucket, key)
    reports = await asyncio.gather(*(backend.store.delete_all_versions(bucket, b) for b in batches))
    for batch, report in zip(batches, reports, strict=True):
        assert report.deleted == set(batch)
        assert all(backend.versions(bucket, key) == [] for key in batch)
