"""Reading held media for a handover to the police: every version of an object, its SHA-256 computed
from the bytes as they stream (a 1 GB video is never in memory), and presigned download links.
Synchronous (boto3); the API calls it in a thread."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Version:
    version_id: str
    size: int


class EvidenceStore:
    def __init__(self, client: Any, link_client: Any | None = None) -> None:
        """`link_client`: signs the download links, for an endpoint the recipients reach
        (HANDOVER_ENDPOINT_URL); by default the same client."""
        self._client = client
        self._link_client = link_client or client

    def versions(self, bucket: str, key: str) -> list[Version]:
        """Every version of `key` that holds bytes (delete markers hold none), oldest first."""
        found: list[tuple[Any, Version]] = []
        for page in self._client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key):
            for item in page.get("Versions", []):
                if item["Key"] == key:
                    found.append((item["LastModified"], Version(str(item["VersionId"]), int(item["Size"]))))
        return [version for _, version in sorted(found, key=lambda pair: pair[0])]

    def sha256(self, bucket: str, key: str, version_id: str) -> tuple[str, int]:
        """The SHA-256 of the version's bytes and how many there were, read a chunk at a time."""
        body = self._client.get_object(Bucket=bucket, Key=key, VersionId=version_id)["Body"]
        digest, size = hashlib.sha256(), 0
        try:
            for chunk in iter(lambda: body.read(CHUNK), b""):
                digest.update(chunk)
                size += len(chunk)
        finally:
            body.close()
        return digest.hexdigest(), size

    def link(self, bucket: str, key: str, version_id: str, ttl: timedelta) -> str:
        return str(
            self._link_client.generate_presigned_url(
                "get_object",
                Params={"Bucket": bucket, "Key": key, "VersionId": version_id},
                ExpiresIn=int(ttl.total_seconds()),
            )
        )
