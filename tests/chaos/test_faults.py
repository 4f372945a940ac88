"""The short version of `make chaos`: real faults under load, checked against the policy's invariants.

A fresh stack with cuttable lines in front of Tansu and SeaweedFS: the broker is unreachable while the
worker starts; then, under load, the store is unreachable for a while, and the worker is SIGKILLed and
restarted. Judged by listing the bucket (every version), not by the service's records: nothing may go
early or late, nothing be left overdue, no hold be unanswered. (Losing one of two
workers for good is tested in tests/e2e/test_two_workers.py.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from chaos.check import table
from chaos.rig import ChaosRig
from chaos.scenarios import every_fault_briefly

pytestmark = pytest.mark.e2e


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[ChaosRig]:
    rig = ChaosRig(tmp_path, retention=timedelta(seconds=10), hold_limit=timedelta(seconds=25))
    rig.start()
    try:
        yield rig
    finally:
        rig.stop()


def test_every_fault_leaves_nothing_early_nothing_overdue_and_every_hold_answered(
    rig: ChaosRig, artifacts: Path
) -> None:
    report = asyncio.run(every_fault_briefly(rig))
    (artifacts / "chaos-brief.md").write_text(table([report]))
    assert report.events_sent > 20
    assert report.deletions_expected == report.objects
    assert report.deletions_done == report.objects  # seen gone by listing every version in the bucket
    assert report.premature == 0  # by when the bucket lost them, not by the service's records
    assert report.held_deleted == 0
    assert report.overdue == 0
    assert report.holds_unanswered == 0
    assert report.audit_missing == 0  # every object: media.deletion_scheduled, and media.deleted once gone
    assert report.reported_seconds is not None  # /health and retention_degraded said the store failed
    assert report.problems == []
