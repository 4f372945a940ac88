"""The worker as an operator meets it: it refuses bad settings, and it survives a restart."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.kafka.partitioning import partition_for
from streams.local.stack import MEDIA_BUCKET, LocalStack, input_topics_of, isolated_topics
from streams.local.worker_process import WorkerProcess
from tests.builders import alarm_json, hold_placed_json
from tests.e2e.helpers import exists, sleep_until
from tests.kafka_helpers import produce, wait_for_commit, wait_for_records

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def run_worker(
    environment: dict[str, str], timeout: float = 60, secure: bool = False
) -> subprocess.CompletedProcess[str]:
    """`python -m streams worker` with these settings only; ALLOW_INSECURE unless `secure` (the
    refusals tested here come after the check of what production needs, tested on its own)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "MEDIA_", "AWS_", "S3_"))}
    insecure = {} if secure else {"ALLOW_INSECURE": "true"}
    return subprocess.run(
        [sys.executable, "-m", "streams", "worker"],
        env={**clean, **insecure, **environment},
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )


class TestStartUpRefusesWhatCannotWork:
    def test_a_missing_setting_stops_it_with_one_line_naming_it(self) -> None:
        result = run_worker({"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9"})
        assert result.returncode == 2
        assert result.stderr.strip() == "invalid settings: MEDIA_BUCKETS: Field required"

    def test_a_wrong_duration_stops_it_with_one_line_naming_it(self) -> None:
        result = run_worker(
            {
                "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
                "MEDIA_BUCKETS": "m",
                "MEDIA_RETENTION": "7 days",
            }
        )
        assert result.returncode == 2
        assert result.stderr.strip().splitlines() == [
            "invalid settings: MEDIA_RETENTION: must be an ISO 8601 duration such as P7D, PT24H or PT30S"
        ]

    def test_without_what_production_needs_it_refuses_naming_each(self, stack: LocalStack) -> None:
        result = run_worker(stack.worker_environment(), secure=True)
        assert result.returncode == 2
        for missing in (
            "HOLD_SIGNING_KEYS",
            "API_TOKENS",
            "AUDIT_CHAIN_KEYS",
            "AUDIT_ANCHOR_BUCKET",
            "PSEUDONYM_KEY",
            "HANDOVER_SIGNING_KEY",
        ):
            assert missing in result.stderr, result.stderr
        assert "ALLOW_INSECURE=true" in result.stderr

    def test_an_anchor_bucket_without_object_lock_is_refused(self, stack: LocalStack) -> None:
        bucket = f"no-lock-{uuid.uuid4().hex[:6]}"
        stack.create_bucket(bucket)
        process = WorkerProcess(stack, Path(os.devnull), AUDIT_ANCHOR_BUCKET=bucket)
        result = run_worker(process.environment, secure=True)
        assert result.returncode == 2
        assert f"AUDIT_ANCHOR_BUCKET {bucket} has no Object Lock" in result.stderr

    def test_allowed_to_run_insecure_it_says_so_loudly(self, stack: LocalStack) -> None:
        environment = {
            **stack.worker_environment(),
            "ALLOW_INSECURE": "true",
            "TOPICS__ALARM_EVENTS": "absent-x",
        }
        result = run_worker(environment, secure=True)  # stops at the missing topic, after the warning
        assert "INSECURE" in result.stdout + result.stderr
        assert "do not exist" in result.stderr

    def test_missing_input_topics_stop_it_with_a_clear_error(self, stack: LocalStack) -> None:
        environment = {
            **stack.worker_environment(),
            "TOPICS__ALARM_EVENTS": f"absent-{uuid.uuid4().hex[:6]}",
        }
        result = run_worker(environment)
        assert result.returncode == 2
        assert "do not exist" in result.stderr
        assert "create them (any number of partitions)" in result.stderr

    def test_a_partition_count_other_than_its_topics_have_stops_it(self, stack: LocalStack) -> None:
        """The service's state is divided by its partition count: a different PARTITIONS would put
        alarms where their state is not."""
        prefix = f"mismatch-{uuid.uuid4().hex[:6]}"
        topics = isolated_topics(prefix)
        stack.create_topics(input_topics_of(topics), partitions=3)
        stack.create_topics([topics["TOPICS__INTERNAL"]], partitions=4)  # as a deployment left it
        result = run_worker({**stack.worker_environment(), **topics, "APP_ID": prefix, "PARTITIONS": "8"})
        assert result.returncode == 2
        assert "PARTITIONS is 8 but the service's topics" in result.stderr
        assert "set PARTITIONS=4 or leave it unset" in result.stderr

    def test_an_audit_topic_that_deletes_after_7_days_stops_it_naming_the_fix(
        self, stack: LocalStack
    ) -> None:
        """Kafka's default retention (7 days) on the audit trail would delete the proof of deletion."""
        prefix = f"short-audit-{uuid.uuid4().hex[:6]}"
        topics = isolated_topics(prefix)
        stack.create_topics(input_topics_of(topics), partitions=4)
        week = str(7 * 24 * 3600 * 1000)
        asyncio.run(create_topic(stack, topics["TOPICS__AUDIT"], {"retention.ms": week}))
        result = run_worker({**stack.worker_environment(), **topics, "APP_ID": prefix})
        assert result.returncode == 2
        assert (
            f"topic {topics['TOPICS__AUDIT']}: retention.ms={week} deletes the audit trail after 7 days"
            in (result.stderr)
        )
        assert "set retention.ms=189388800000" in result.stderr  # AUDIT_RETENTION's default, 6 years

    def test_a_compacted_alarm_stream_stops_it(self, stack: LocalStack) -> None:
        prefix = f"compacted-{uuid.uuid4().hex[:6]}"
        topics = isolated_topics(prefix)
        stack.create_topics(input_topics_of(topics), partitions=4)
        asyncio.run(create_topic(stack, topics["TOPICS__ALARM_STREAM"], {"cleanup.policy": "compact"}))
        result = run_worker({**stack.worker_environment(), **topics, "APP_ID": prefix})
        assert result.returncode == 2
        assert "cleanup.policy=compact keeps only the last record per key" in result.stderr


async def create_topic(stack: LocalStack, name: str, configs: dict[str, str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 8, 1, topic_configs=configs)])
    finally:
        await admin.close()


class TestRestart:
    def test_deadlines_survive_a_killed_worker(self, stack: LocalStack, artifacts: Path) -> None:
        """A worker killed with SIGKILL loses nothing: its successor rebuilds the schedule from the
        changelog and deletes on time."""
        import asyncio

        prefix = f"restart-{uuid.uuid4().hex[:6]}"
        topics = isolated_topics(prefix)
        stack.create_topics(input_topics_of(topics), 4)
        stack.create_bucket(MEDIA_BUCKET)
        settings = {**topics, "APP_ID": prefix, "MEDIA_RETENTION": "PT40S"}
        s3: Any = stack.s3_client()

        first = WorkerProcess(stack, artifacts / f"{prefix}-first.log", **settings).start()
        second = WorkerProcess(stack, artifacts / f"{prefix}-second.log", **settings)
        try:
            first.wait_ready()
            alarm_ids = [f"{prefix}-alarm-{i}" for i in range(8)]  # spread over the partitions
            triggered_at = datetime.now(UTC)
            for alarm_id in alarm_ids:
                s3.put_object(Bucket=MEDIA_BUCKET, Key=f"{alarm_id}/a.jpg", Body=b"x")

            async def send_and_confirm() -> None:
                await produce(
                    stack.kafka_bootstrap,
                    topics["TOPICS__ALARM_EVENTS"],
                    [
                        (
                            a.encode(),
                            alarm_json(a, [f"{a}/a.jpg"], bucket=MEDIA_BUCKET, at=triggered_at),
                        )
                        for a in alarm_ids
                    ],
                )
                await wait_for_records(
                    stack.kafka_bootstrap,
                    topics["TOPICS__AUDIT"],
                    lambda r: r["type"] == "media.deletion_scheduled",
                    count=len(alarm_ids),
                )

            asyncio.run(send_and_confirm())
            first.kill()

            second.start()
            second.wait_ready()
            deadline = triggered_at + timedelta(seconds=40)
            assert datetime.now(UTC) < deadline - timedelta(seconds=2), "restart took too long to test"
            asyncio.run(sleep_until(deadline - timedelta(seconds=1)))
            assert all(exists(s3, MEDIA_BUCKET, f"{a}/a.jpg") for a in alarm_ids)

            async def all_deleted() -> list[dict[str, Any]]:
                return await wait_for_records(
                    stack.kafka_bootstrap,
                    topics["TOPICS__AUDIT"],
                    lambda r: r["type"] == "media.deleted",
                    count=len(alarm_ids),
                    timeout=15,
                )

            deleted = asyncio.run(all_deleted())
            assert not any(exists(s3, MEDIA_BUCKET, f"{a}/a.jpg") for a in alarm_ids)
            assert max(float(r["details"]["lateness_seconds"]) for r in deleted) < 5
        finally:
            first.kill()
            second.stop()

    def test_a_takeover_processes_what_waits_on_partitions_the_killed_worker_never_committed(
        self, stack: LocalStack, artifacts: Path
    ) -> None:
        """Records on partitions the killed worker never committed on, arriving while the successor
        joins, are all processed. (The faust seek-back skip that `make chaos` found, see
        streams/kafka/transport.py, needs a rebalance at the wrong moment: this test has not caught
        it deterministically; `python -m chaos --only kill` with its fixed seed does, 8 holds of 35.)"""
        import asyncio

        prefix = f"takeover-{uuid.uuid4().hex[:6]}"
        topics = isolated_topics(prefix)
        stack.create_topics(input_topics_of(topics), 4)
        settings = {**topics, "APP_ID": prefix, "MEDIA_RETENTION": "PT300S", "SWEEP_INTERVAL": "PT0S"}
        first = WorkerProcess(stack, artifacts / f"{prefix}-first.log", **settings).start()
        second = WorkerProcess(stack, artifacts / f"{prefix}-second.log", **settings)
        alarm_ids = [f"{prefix}-alarm-{i}" for i in range(40)]  # spread over the four partitions
        early = [a for a in alarm_ids if partition_for(a, 4) == 0][:2]  # the first worker commits only p0
        late = [a for a in alarm_ids if a not in early]
        holds = late[::3]

        def send(alarms: list[str], held: list[str]) -> None:
            async def go() -> None:
                await produce(
                    stack.kafka_bootstrap,
                    topics["TOPICS__ALARM_EVENTS"],
                    [(a.encode(), alarm_json(a, [f"{a}/a.jpg"], bucket=MEDIA_BUCKET)) for a in alarms],
                )
                if held:
                    await produce(
                        stack.kafka_bootstrap,
                        topics["TOPICS__POLICE_HOLDS"],
                        [(a.encode(), hold_placed_json(a, f"hold-{a}")) for a in held],
                    )

            asyncio.run(go())

        def audited(kind: str, count: int) -> None:
            asyncio.run(
                wait_for_records(
                    stack.kafka_bootstrap, topics["TOPICS__AUDIT"], lambda r: r["type"] == kind, count=count
                )
            )

        try:
            first.wait_ready()
            send(early, [])
            audited("media.deletion_scheduled", len(early))
            # p0 committed, the others never were: the moment this test is about.
            asyncio.run(
                wait_for_commit(stack.kafka_bootstrap, prefix, topics["TOPICS__ALARM_EVENTS"], len(early))
            )
            first.kill()
            second.start()  # while the killed worker is still a member of the group
            # Records keep arriving while the successor joins, waits out the dead member and recovers.
            for n in range(0, len(late), 2):
                send(late[n : n + 2], [a for a in late[n : n + 2] if a in holds])
                time.sleep(0.5)
            second.wait_ready()
            audited("media.deletion_scheduled", len(alarm_ids))
            audited("hold.accepted", len(holds))
        finally:
            first.kill()
            second.stop()

    def test_records_waiting_on_partitions_never_committed_are_all_processed(
        self, stack: LocalStack, artifacts: Path
    ) -> None:
        """Events sent while no worker runs (the first deployment, or a takeover from a worker killed
        before its first commit on a partition) are all processed: faust drops what it fetches while
        its tables recover and seeks back to the committed offsets, of which these partitions have none."""
        import asyncio

        prefix = f"waiting-{uuid.uuid4().hex[:6]}"
        topics = isolated_topics(prefix)
        stack.create_topics(input_topics_of(topics), 4)
        alarm_ids = [f"{prefix}-alarm-{i}" for i in range(24)]  # spread over the four partitions
        hold_alarms = alarm_ids[::3]

        async def send_all() -> None:
            await produce(
                stack.kafka_bootstrap,
                topics["TOPICS__ALARM_EVENTS"],
                [(a.encode(), alarm_json(a, [f"{a}/a.jpg"], bucket=MEDIA_BUCKET)) for a in alarm_ids],
            )
            await produce(
                stack.kafka_bootstrap,
                topics["TOPICS__POLICE_HOLDS"],
                [(a.encode(), hold_placed_json(a, f"hold-{a}")) for a in hold_alarms],
            )

        asyncio.run(send_all())
        settings = {**topics, "APP_ID": prefix, "MEDIA_RETENTION": "PT300S", "SWEEP_INTERVAL": "PT0S"}
        worker = WorkerProcess(stack, artifacts / f"{prefix}.log", **settings).start()
        try:
            worker.wait_ready()

            async def answered() -> None:
                await wait_for_records(
                    stack.kafka_bootstrap,
                    topics["TOPICS__AUDIT"],
                    lambda r: r["type"] == "media.deletion_scheduled",
                    count=len(alarm_ids),
                )
                await wait_for_records(
                    stack.kafka_bootstrap,
                    topics["TOPICS__AUDIT"],
                    lambda r: r["type"] == "hold.accepted",
                    count=len(hold_alarms),
                )

            asyncio.run(answered())
        finally:
            worker.stop()
