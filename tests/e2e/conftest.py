"""The end-to-end fixtures: one stack and one worker per test process. Helpers live in helpers.py."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streams.local.postgres import LocalPostgres
from streams.local.side_process import ProjectorProcess
from streams.local.stack import EVIDENCE_BUCKET, INPUT_TOPICS, MEDIA_BUCKET, LocalStack
from streams.local.worker_process import WorkerProcess
from tests.e2e.helpers import HOLD_SECONDS, RETENTION_SECONDS, SWEEP_GRACE_SECONDS, WARNING_SECONDS


@pytest.fixture(scope="session")
def media_stack(stack: LocalStack) -> LocalStack:
    stack.create_topics(INPUT_TOPICS, partitions=4)
    stack.create_bucket(MEDIA_BUCKET)
    stack.create_bucket(EVIDENCE_BUCKET, object_lock=True)
    return stack


@pytest.fixture(scope="session")
def worker_and_projector(
    media_stack: LocalStack, postgres_server: LocalPostgres, artifacts: Path
) -> Iterator[tuple[WorkerProcess, ProjectorProcess]]:
    """One worker for the end-to-end tests, with a retention short enough to watch, and the projector
    of its archive, which its API reads."""
    process = WorkerProcess(
        media_stack,
        artifacts / "e2e-worker.log",
        DATABASE_URL=postgres_server.create_database(f"e2e_{os.getpid()}"),
        MEDIA_RETENTION=f"PT{RETENTION_SECONDS}S",
        HOLD_RETENTION=f"PT{HOLD_SECONDS}S",
        HOLD_EXPIRY_WARNING=f"PT{WARNING_SECONDS}S",
        APP_ID="e2e-retention",
        # Sweeps only on demand (tests/e2e/test_sweep.py), so that no test's objects vanish mid-test.
        SWEEP_INTERVAL="PT0S",
        SWEEP_GRACE=f"PT{SWEEP_GRACE_SECONDS}S",
    ).start()
    projector = ProjectorProcess(process, artifacts / "e2e-projector.log").start()
    try:
        process.wait_ready()
        projector.wait_ready()
        yield process, projector
    finally:
        process.stop()
        projector.stop()


@pytest.fixture(scope="session")
def worker(worker_and_projector: tuple[WorkerProcess, ProjectorProcess]) -> WorkerProcess:
    return worker_and_projector[0]


@pytest.fixture(scope="session")
def projector(worker_and_projector: tuple[WorkerProcess, ProjectorProcess]) -> ProjectorProcess:
    return worker_and_projector[1]


@pytest.fixture
def s3(media_stack: LocalStack) -> Any:
    return media_stack.s3_client()
