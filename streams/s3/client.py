"""The boto3 S3 client, built once from the settings and shared by every thread."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from config.settings import Settings


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
