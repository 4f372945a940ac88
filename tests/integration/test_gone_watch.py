"""The bench's watch on the bucket, against a real SeaweedFS: it judges every lateness figure, so it must
see an object gone only once no version or delete marker of it is listed, and see each one, across
pages, without listing keys it does not watch one by one."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from bench.harness import GoneWatch
from streams.local.stack import LocalStack

pytestmark = pytest.mark.integration


def _delete_every_version(s3: Any, bucket: str, key: str, *, markers: bool = True) -> None:
    listing = s3.list_object_versions(Bucket=bucket, Prefix=key)
    entries = listing.get("Versions", []) + (listing.get("DeleteMarkers", []) if markers else [])
    for entry in entries:
        if entry["Key"] == key:
            s3.delete_object(Bucket=bucket, Key=key, VersionId=entry["VersionId"])


async def _until(condition: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the watch did not see it in time"
        await asyncio.sleep(0.05)


async def test_sees_each_object_go_across_pages_and_not_while_a_delete_marker_is_left(
    stack: LocalStack,
) -> None:
    s3 = stack.s3_client()
    bucket = f"watch-{uuid.uuid4().hex[:8]}"
    stack.create_bucket(bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    keys = [f"alarm-{i:03d}-{n}.jpg" for i in range(6) for n in range(2)]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    s3.put_object(Bucket=bucket, Key="alarm-000-0.jpg", Body=b"second version")
    watched = keys[::2]  # the keys between them are in the listing but not watched
    past = time.time() - 1

    # Pages of 3 versions: the 14 versions take 5 pages, so a watched key's page is rarely the first.
    with GoneWatch(s3, bucket, dict.fromkeys(watched, past), period=0.05, page_size=3) as watch:
        await _until(lambda: all(p is not None for p in watch.present_at))
        assert watch.lateness() == []

        s3.delete_object(Bucket=bucket, Key="alarm-000-0.jpg")  # a delete marker on top,
        _delete_every_version(s3, bucket, "alarm-000-0.jpg", markers=False)  # then only it: not gone
        _delete_every_version(s3, bucket, "alarm-002-0.jpg")
        _delete_every_version(s3, bucket, "alarm-005-0.jpg")
        await _until(lambda: sum(g is not None for g in watch.gone_at) >= 2)
        polls = watch.polls
        await _until(lambda: watch.polls >= polls + 3)
        seen_gone = {k for k, g in zip(watch.keys, watch.gone_at, strict=True) if g is not None}
        assert seen_gone == {"alarm-002-0.jpg", "alarm-005-0.jpg"}

        for key in watched:
            _delete_every_version(s3, bucket, key)
        await watch.wait_all_gone(timeout=20)

    assert len(watch.lateness()) == len(watched)
    assert all(0 < late < 30 for late in watch.lateness())
    assert all(0 <= gap < 30 for gap in watch.gaps())
    assert watch.pages > watch.polls  # it paged
    unwatched = s3.list_objects_v2(Bucket=bucket)["KeyCount"]
    assert unwatched == len(keys) - len(watched)  # and deleted nothing itself


async def test_keys_not_yet_due_are_not_judged(stack: LocalStack) -> None:
    s3 = stack.s3_client()
    bucket = f"watch-{uuid.uuid4().hex[:8]}"
    stack.create_bucket(bucket)
    s3.put_object(Bucket=bucket, Key="a-due-now.jpg", Body=b"x")
    # Never uploaded, so absent from every listing, but due only in an hour: not "gone" before then.
    deadlines = {"a-due-now.jpg": time.time() - 1, "b-due-later.jpg": time.time() + 3600}
    with GoneWatch(s3, bucket, deadlines, period=0.05) as watch:
        await _until(lambda: watch.present_at[0] is not None)
        s3.delete_object(Bucket=bucket, Key="a-due-now.jpg")
        await _until(lambda: watch.gone_at[0] is not None)
        await asyncio.sleep(0.3)
    assert watch.keys == ["a-due-now.jpg", "b-due-later.jpg"]
    assert watch.gone_at[1] is None
    assert watch.present_at[1] is None
