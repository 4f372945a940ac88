"""The boto3 S3 client, built once from the settings and shared by every thread."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from config.settings import Settings


def make_evidence_store(settings: Settings) -> Any:
    """For handovers: the store's client, and one for links on HANDOVER_ENDPOINT_URL where it is set."""
    from streams.s3.evidence import EvidenceStore

    links = None
    if settings.handover_endpoint_url:
        public = settings.model_copy(update={"s3_endpoint_url": settings.handover_endpoint_url})
        links = make_s3_client(public)
    return EvidenceStore(make_s3_client(settings), links)


def make_s3_client(settings: Settings) -> Any:
    credentials: dict[str, str] = {}
    if settings.aws_access_key_id is not None and settings.aws_secret_access_key is not None:
        credentials = {
            "aws_access_key_id": settings.aws_access_key_id.get_secret_value(),
            "aws_secret_access_key": settings.aws_secret_access_key.get_secret_value(),
        }
    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        verify=str(settings.s3_ca_bundle) if settings.s3_ca_bundle else None,
        region_name=settings.aws_region,
        config=Config(
            max_pool_connections=settings.s3_max_workers,
            connect_timeout=5,
            read_timeout=30,
            # Short retries here; the deleter retries for as long as it takes, with its own backoff.
            retries={"mode": "standard", "max_attempts": 3},
            s3={"addressing_style": "path"},
        ),
        **credentials,
    )
