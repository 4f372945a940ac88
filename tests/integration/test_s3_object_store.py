"""What only the S3 adapter has: its cache of each bucket's settings. Everything the in-memory store must
do alike (versions, delete markers, legal holds, batches, listing, errors) is in
test_object_store_contract.py, which runs against both."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from streams.local.stack import LocalStack
from streams.s3.object_store import S3ObjectStore

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def s3(stack: LocalStack) -> Any:
    return stack.s3_client()


@pytest.fixture
def store(s3: Any) -> Iterator[S3ObjectStore]:
    with ThreadPoolExecutor(8) as executor:
        yield S3ObjectStore(s3, executor)


def versions(s3: Any, bucket: str, key: str) -> list[str]:
    listing = s3.list_object_versions(Bucket=bucket, Prefix=key)
    entries = listing.get("Versions", []) + listing.get("DeleteMarkers", [])
    return [e["VersionId"] for e in entries if e["Key"] == key]


async def test_a_bucket_that_turns_versioned_is_noticed(
    s3: Any, store: S3ObjectStore, stack: LocalStack
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
