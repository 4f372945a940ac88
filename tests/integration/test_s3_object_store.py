"""The S3 adapter against a real SeaweedFS: every version goes, nothing else does."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from streams.local_stack import LocalStack
from streams.object_store import S3ObjectStore

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def s3(stack: LocalStack) -> Any:
    return stack.s3_client()


@pytest.fixture(scope="module")
def buckets(stack: LocalStack) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    names = {
        "plain": f"plain-{suffix}",
        "locked": f"locked-{suffix}",
        "versioned": f"versioned-{suffix}",
    }
    stack.create_bucket(names["plain"])
    stack.create_bucket(names["locked"], object_lock=True)
    stack.create_bucket(names["versioned"])
    stack.s3_client().put_bucket_versioning(
        Bucket=names["versioned"], VersioningConfiguration={"Status": "Enabled"}
    )
    return names


@pytest.fixture
def store(s3: Any) -> Iterator[S3ObjectStore]:
    with ThreadPoolExecutor(8) as executor:
        yield S3ObjectStore(s3, executor)


def versions(s3: Any, bucket: str, key: str) -> list[str]:
    listing = s3.list_object_versions(Bucket=bucket, Prefix=key)
    entries = listing.get("Versions", []) + listing.get("DeleteMarkers", [])
    return [e["VersionId"] for e in entries if e["Key"] == key]


def exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except s3.exceptions.ClientError:
        return False


class TestPlainBucket:
    async def test_objects_are_deleted_and_neighbours_kept(
        self, s3: Any, store: S3ObjectStore, buckets: dict[str, str]
    ) -> None:
        bucket = buckets["plain"]
        for key in ("cam/1.jpg", "cam/2.jpg", "cam/3.jpg"):
            s3.put_object(Bucket=bucket, Key=key, Body=b"img")
        report = await store.delete_all_versions(bucket, ["cam/1.jpg", "cam/2.jpg"])
        assert report.deleted == {"cam/1.jpg", "cam/2.jpg"}
        assert report.failed == {}
        assert not exists(s3, bucket, "cam/1.jpg")
        assert exists(s3, bucket, "cam/3.jpg")

    async def test_a_missing_object_counts_as_deleted(
        self, store: S3ObjectStore, buckets: dict[str, str]
    ) -> None:
        report = await store.delete_all_versions(buckets["plain"], ["never/was.jpg"])
        assert report.deleted == {"never/was.jpg"}

    async def test_more_than_one_request_worth_of_keys(
        self, s3: Any, store: S3ObjectStore, buckets: dict[str, str]
    ) -> None:
        bucket = buckets["plain"]
        keys = [f"bulk/{i:05}.jpg" for i in range(1100)]
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=b"x"), keys))
        report = await store.delete_all_versions(bucket, keys)
        assert len(report.deleted) == 1100
        assert s3.list_objects_v2(Bucket=bucket, Prefix="bulk/").get("KeyCount", 0) == 0


class TestVersionedBuckets:
    @pytest.mark.parametrize("kind", ["versioned", "locked"])
    async def test_every_version_and_delete_marker_goes(
        self, kind: str, s3: Any, store: S3ObjectStore, buckets: dict[str, str]
    ) -> None:
        bucket = buckets[kind]
        s3.put_object(Bucket=bucket, Key="v/clip.mp4", Body=b"first")
        s3.put_object(Bucket=bucket, Key="v/clip.mp4", Body=b"second")
        s3.delete_object(Bucket=bucket, Key="v/clip.mp4")  # leaves a delete marker over both versions
        s3.put_object(Bucket=bucket, Key="v/clip.mp4x", Body=b"a different object")
        assert len(versions(s3, bucket, "v/clip.mp4")) == 3
        report = await store.delete_all_versions(bucket, ["v/clip.mp4"])
        assert report.deleted == {"v/clip.mp4"}
        assert versions(s3, bucket, "v/clip.mp4") == []
        assert exists(s3, bucket, "v/clip.mp4x")

    async def test_a_bucket_that_turns_versioned_is_noticed(
        self, s3: Any, store: S3ObjectStore, stack: LocalStack
    ) -> None:
        bucket = f"turns-{uuid.uuid4().hex[:8]}"
        stack.create_bucket(bucket)
        s3.put_object(Bucket=bucket, Key="a.jpg", Body=b"x")
        await store.delete_all_versions(bucket, ["nothing-yet"])  # caches "not versioned"
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        s3.put_object(Bucket=bucket, Key="a.jpg", Body=b"y")
        report = await store.delete_all_versions(bucket, ["a.jpg"])
        assert report.deleted == {"a.jpg"}
        assert versions(s3, bucket, "a.jpg") == []

    async def test_a_version_under_legal_hold_is_reported_as_failed(
        self, s3: Any, store: S3ObjectStore, buckets: dict[str, str]
    ) -> None:
        bucket = buckets["locked"]
        put = s3.put_object(Bucket=bucket, Key="held.jpg", Body=b"evidence")
        s3.put_object_legal_hold(
            Bucket=bucket, Key="held.jpg", VersionId=put["VersionId"], LegalHold={"Status": "ON"}
        )
        report = await store.delete_all_versions(bucket, ["held.jpg"])
        assert report.deleted == frozenset()
        assert "AccessDenied" in report.failed["held.jpg"]
        assert exists(s3, bucket, "held.jpg")
        s3.put_object_legal_hold(
            Bucket=bucket, Key="held.jpg", VersionId=put["VersionId"], LegalHold={"Status": "OFF"}
        )
        report = await store.delete_all_versions(bucket, ["held.jpg"])
        assert report.deleted == {"held.jpg"}


class TestUnreachableStore:
    async def test_an_unreachable_endpoint_raises(self) -> None:
        import boto3
        from botocore.config import Config

        client = boto3.client(
            "s3",
            endpoint_url="http://127.0.0.1:9",
            aws_access_key_id="x",
            aws_secret_access_key="y",
            region_name="us-east-1",
            config=Config(retries={"max_attempts": 1}, connect_timeout=0.5),
        )
        with ThreadPoolExecutor(1) as executor, pytest.raises(Exception, match="Could not connect"):
            await S3ObjectStore(client, executor).delete_all_versions("media", ["a.jpg"])


class TestListing:
    async def test_every_object_is_listed_a_page_at_a_time_with_its_upload_time(
        self, s3: Any, store: S3ObjectStore, buckets: dict[str, str]
    ) -> None:
        bucket = buckets["plain"]
        prefix = f"listing-{uuid.uuid4().hex[:6]}"
        keys = [f"{prefix}/{i}.jpg" for i in range(5)]
        for key in keys:
            s3.put_object(Bucket=bucket, Key=key, Body=b"x")
        pages = [page async for page in store.list_objects(bucket, page_size=2)]
        listed = [item for page in pages for item in page if item.key.startswith(prefix)]
        assert sorted(item.key for item in listed) == keys
        assert all(len(page) <= 2 for page in pages)
        assert len(pages) >= 3
        assert all(item.last_modified.tzinfo is not None for item in listed)
