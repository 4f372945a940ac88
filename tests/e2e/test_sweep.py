"""The reconciliation sweep on the real stack, started from the command line."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import pytest

from streams.local.stack import MEDIA_BUCKET, LocalStack
from streams.local.worker_process import WorkerProcess
from tests.builders import alarm_json
from tests.e2e.helpers import HOLD_SECONDS, SWEEP_GRACE_SECONDS, exists, retention
from tests.kafka_helpers import produce, wait_for_records

pytestmark = pytest.mark.e2e


class TestReconciliationSweep:
    async def test_an_old_unknown_object_goes_and_a_young_one_is_only_reported(
        self, worker: WorkerProcess, media_stack: LocalStack, s3: Any
    ) -> None:
        run = uuid.uuid4().hex[:8]
        orphan, young, known = f"sweep-{run}/orphan.jpg", f"sweep-{run}/young.jpg", f"sweep-{run}/known.jpg"
        # An object no event ever told the service about; S3 stamps it with the upload time.
        s3.put_object(Bucket=MEDIA_BUCKET, Key=orphan, Body=b"forgotten")
        alarm_id = f"sweep-{run}"
        s3.put_object(Bucket=MEDIA_BUCKET, Key=known, Body=b"image")
        await produce(
            media_stack.kafka_bootstrap,
            "alarm-events",
            [(alarm_id.encode(), alarm_json(alarm_id, [known], bucket=MEDIA_BUCKET))],
        )
        # Wait until the orphan is older than every promise (the hold limit plus the grace).
        await asyncio.sleep(HOLD_SECONDS + SWEEP_GRACE_SECONDS + 1)
        s3.put_object(Bucket=MEDIA_BUCKET, Key=young, Body=b"just arrived")

        started = time.monotonic()
        answer = await asyncio.to_thread(
            retention, worker, "operator", "--json", "sweep", "run", "--wait", "60"
        )
        assert answer.returncode == 0, answer.stderr
        report = json.loads(answer.stdout)
        assert report["status"] == "completed"
        assert time.monotonic() - started < 60

        assert not exists(s3, MEDIA_BUCKET, orphan)
        assert exists(s3, MEDIA_BUCKET, young)
        outcomes = {
            o["key"]: (r["type"], r["details"]["outcome"]) for r in report["findings"] for o in r["objects"]
        }
        assert outcomes[orphan] == ("media.orphan_deleted", "deleted")
        assert outcomes[young] == ("sweep.unknown_found", "reported")
        assert known not in outcomes  # the service knows it, and its deadline has not passed
        assert report["counts"]["orphan"] >= 1
        assert report["requested_by"] == "test-operator"

        # The audit trail has it, sealed in the chain, naming the sweep.
        [record] = await wait_for_records(
            media_stack.kafka_bootstrap,
            "retention-audit",
            lambda r: r["type"] == "media.orphan_deleted" and any(o["key"] == orphan for o in r["objects"]),
        )
        assert record["details"]["sweep_id"] == report["sweep_id"]
        assert "hash" in record

    def test_the_auditor_reads_the_last_sweep_and_may_not_start_one(self, worker: WorkerProcess) -> None:
        refused = retention(worker, "auditor", "sweep", "run")
        assert refused.returncode == 1
        assert "403" in refused.stderr
