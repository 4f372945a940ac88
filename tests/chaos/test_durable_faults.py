"""The short version of `make chaos`'s crashes of the durable stack: under load, the broker (its log in
SeaweedFS) is SIGKILLed and restarted, then SeaweedFS itself (the media and the broker's log at once),
then the worker. Judged by listing the bucket and reading the audit topic: nothing early, nothing held
deleted, nothing overdue, every hold answered, no audit record missing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from chaos.check import table
from chaos.rig import ChaosRig
from chaos.scenarios import every_crash_briefly

pytestmark = pytest.mark.e2e


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[ChaosRig]:
    rig = ChaosRig(
        tmp_path, retention=timedelta(seconds=10), hold_limit=timedelta(seconds=25), broker_storage="s3"
    )
    rig.start()
    try:
        yield rig
    finally:
        rig.stop()


def test_crashes_of_the_broker_the_store_and_the_worker_lose_nothing(rig: ChaosRig, artifacts: Path) -> None:
    report = asyncio.run(every_crash_briefly(rig))
    (artifacts / "chaos-crashes.md").write_text(table([report]))
    assert report.events_sent > 20
    assert report.deletions_expected == report.objects
    assert report.deletions_done == report.objects  # seen gone by listing every version in the bucket
    assert report.premature == 0
    assert report.held_deleted == 0
    assert report.overdue == 0
    assert report.holds_unanswered == 0
    assert report.audit_missing == 0
    assert report.problems == []
