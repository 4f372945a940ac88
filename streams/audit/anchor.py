"""Checkpoints of the audit chains, also written where nobody can take them back: an S3 bucket with
Object Lock, each checkpoint an object under COMPLIANCE retention for AUDIT_RETENTION. Not the
bucket's owner, not the service, not an administrator of Kafka can remove or rewrite one before then,
so `retention audit verify` can tell a cut or rewritten audit topic even when its checkpoint topic was
cut or rewritten with it.

One object per checkpoint, `<audit topic>/<partition>/<offset>.json`, written once (If-None-Match): a
checkpoint of the same record written again after a restart is already there.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import boto3
import structlog
from botocore.config import Config
from botocore.exceptions import ClientError

from handlers.audit_chain import Checkpoint
from streams.s3.object_store import failure_reason

log = structlog.get_logger(__name__)


def anchor_key(topic: str, checkpoint: Checkpoint) -> str:
    return f"{topic}/{checkpoint.partition:05d}/{checkpoint.offset:020d}.json"


class AuditAnchor:
    def __init__(self, s3: Any, bucket: str, topic: str, retention: timedelta) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._topic = topic
        self._retention = retention
        self._waiting: list[Checkpoint] = []
        self.written = 0
        self.failures = 0
        self.problem: str | None = None  # the last write's failure, for /health (an error code)

    def check_bucket(self) -> str | None:
        """Why the bucket cannot anchor anything (no Object Lock, not reachable), or None."""
        try:
            answer = self._s3.get_object_lock_configuration(Bucket=self._bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ObjectLockConfigurationNotFoundError":
                return f"AUDIT_ANCHOR_BUCKET {self._bucket} has no Object Lock"
            return f"AUDIT_ANCHOR_BUCKET {self._bucket}: {failure_reason(exc)} (it needs Object Lock)"
        except Exception as exc:  # the store cannot be reached: say so, not a traceback
            return f"AUDIT_ANCHOR_BUCKET {self._bucket}: cannot be checked ({failure_reason(exc)})"
        enabled = answer.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled")
        return None if enabled == "Enabled" else f"AUDIT_ANCHOR_BUCKET {self._bucket} has no Object Lock"

    def add(self, checkpoints: Iterable[Checkpoint]) -> None:
        self._waiting.extend(checkpoints)

    async def flush(self) -> None:
        """Write what waits; what fails waits for the next flush (the topic has it meanwhile)."""
        waiting, self._waiting = self._waiting, []
        failed = []
        for checkpoint in waiting:
            try:
                await asyncio.to_thread(self._put, checkpoint)
                self.written += 1
                self.problem = None
            except Exception as exc:
                self.failures += 1
                self.problem = f"audit anchor not written: {failure_reason(exc)}"
                failed.append(checkpoint)
        if failed:
            log.warning("audit_anchor.failed", waiting=len(failed), reason=self.problem)
            self._waiting = failed + self._waiting

    def _put(self, checkpoint: Checkpoint) -> None:
        try:
            self._s3.put_object(
                Bucket=self._bucket,
                Key=anchor_key(self._topic, checkpoint),
                Body=checkpoint.to_json(),
                ContentType="application/json",
                IfNoneMatch="*",
                ObjectLockMode="COMPLIANCE",
                ObjectLockRetainUntilDate=checkpoint.written_at + self._retention,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "PreconditionFailed":
                raise  # else: this record's checkpoint is there already


def read_anchor(s3: Any, bucket: str, topic: str) -> list[Checkpoint]:
    """Every checkpoint of `topic` in the bucket (each version: a rewrite could only add one)."""
    found = []
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket, Prefix=f"{topic}/"):
        for version in page.get("Versions", []):
            body = s3.get_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])["Body"]
            try:
                found.append(Checkpoint.from_json(body.read()))
            except ValueError as exc:
                log.warning("audit_anchor.invalid", key=version["Key"], error=str(exc))
    return found


def s3_client_from_environment() -> Any:
    """For the command line: the endpoint and credentials of the worker's settings, from the same
    environment variables (S3_ENDPOINT_URL, AWS_*), or boto3's usual chain."""
    return boto3.client(
        "s3",
        endpoint_url=os.environ.get("S3_ENDPOINT_URL") or None,
        region_name=os.environ.get("AWS_REGION") or None,
        config=Config(s3={"addressing_style": "path"}, retries={"mode": "standard", "max_attempts": 3}),
    )
