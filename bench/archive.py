"""The archive's figures: the projector's throughput against the worker's output rate, and the DPO's
questions answered on 1,000,000 audit records (100,000 in a quick run).

Both against a private PostgreSQL from the same wheel `make run` uses (fsync on). The projector is timed
over the topics a real worker wrote in the ingest scenario (its audit records and state changes), from
its start to the moment it has archived every record the topics held, which it checks against the
topics' high watermarks.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from aiokafka import TopicPartition
from psycopg_pool import AsyncConnectionPool

from bench.harness import Bench, Figure
from config.settings import DEVELOPMENT_PSEUDONYM_KEY
from handlers.audit import AuditType, audit_record
from streams.kafka.topic_ends import high_watermarks, started
from streams.postgres.archive_reader import ArchiveReader
from streams.postgres.archive_writer import open_archive
from streams.postgres.migrate import migrate
from streams.projector.feed import Progress, ProjectorFeed
from streams.projector.rows import Kept, Record, Source, row_of
from streams.protection.pseudonyms import Pseudonyms

KEPT = Kept(audit=timedelta(days=2192), deadletter=timedelta(days=30), answers=timedelta(days=14))
QUERY_RUNS = 50
WRITE_BATCH = 5000


async def projector_against_worker(
    bench: Bench, database_url: str, sources: dict[str, Source], worker_seconds: float
) -> None:
    """Archive what the ingest worker wrote; `worker_seconds` is how long the worker took to write it."""
    bootstrap = bench.stack.kafka_bootstrap
    async with started({"bootstrap_servers": bootstrap}) as consumer:
        tps = []
        for topic in sources:
            tps += [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = await high_watermarks(consumer, tps)
    written = sum(ends.values())
    await migrate(database_url)
    progress = Progress()
    feed = ProjectorFeed(
        lambda: open_archive(database_url), {"bootstrap_servers": bootstrap}, sources, KEPT, progress
    )
    began = time.monotonic()
    task = asyncio.create_task(feed.run())
    try:
        while progress.read < written:
            if time.monotonic() - began > 900:
                raise TimeoutError(f"the projector read {progress.read} of {written} records in 900 s")
            await asyncio.sleep(0.05)
        took = time.monotonic() - began
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    worker_rate, projector_rate = written / worker_seconds, written / took
    bench.record(
        Figure(
            "archive",
            "records/s archived by the projector (audit records and state changes the ingest worker wrote)",
            projector_rate,
            "records/s",
            baseline="the worker's output rate while it ingested them",
            baseline_value=worker_rate,
            goal="ratio >= 1.0 (keeps up)",
            met=projector_rate >= worker_rate,
            n=written,
        )
    )


async def dpo_queries(bench: Bench, database_url: str) -> None:
    records = 1_000_000 if bench.full else 100_000
    customers = records // 20
    print(f"archive: {records:,} audit records of {customers:,} customers into PostgreSQL", flush=True)
    await migrate(database_url)
    began = time.monotonic()
    cases = await _fill(database_url, records, customers)
    took = time.monotonic() - began
    bench.record(
        Figure(
            "archive",
            "audit rows written (COPY + INSERT ... ON CONFLICT)",
            records / took,
            "rows/s",
            n=records,
        )
    )
    rng = random.Random(7)
    async with AsyncConnectionPool(database_url, min_size=1, max_size=1, open=False) as pool:
        reader = ArchiveReader(pool, Pseudonyms(DEVELOPMENT_PSEUDONYM_KEY))
        questions: dict[str, Callable[[], Awaitable[Any]]] = {
            "every deletion of one customer": lambda: reader.deletions_of_customer(_customer(rng, customers)),
            "every audit record of one customer (first page of 100)": lambda: reader.trail_of_customer(
                _customer(rng, customers)
            ),
            "every hold of one police case, and its end": lambda: reader.holds_in_case(rng.choice(cases)),
        }
        for question, ask in questions.items():
            await ask()  # the first, with a cold cache, is not what a DPO waits for twice
            times = []
            for _ in range(QUERY_RUNS):
                start = time.perf_counter()
                await ask()
                times.append(time.perf_counter() - start)
            bench.record_spread(
                "archive",
                f"{question}, on {records:,} records",
                times,
                "s",
                goals={"max": ("< 1 s", lambda v: v < 1.0)},
            )
    with psycopg.connect(database_url) as conn:
        size = conn.execute("SELECT pg_total_relation_size('audit_records')").fetchone()
    assert size is not None
    bench.record(
        Figure("archive", "audit_records with its indexes", size[0] / records, "bytes/record", n=records)
    )


def _customer(rng: random.Random, customers: int) -> str:
    return f"customer-{rng.randrange(customers)}"


async def _fill(database_url: str, records: int, customers: int) -> list[str]:
    """Audit records as a year of alarms makes them: per alarm, scheduled and deleted; one alarm in 20
    held, in a case, then released. Returns the cases."""
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    cases: list[str] = []
    batch: list[Any] = []
    offset = 0
    async with open_archive(database_url) as archive:
        n = 0
        while n < records:
            alarm, customer = f"alarm-{n}", f"customer-{n % customers}"
            at = t0 + timedelta(seconds=n * 30)
            media = [("alarm-media", f"{alarm}/{i}.jpg") for i in range(5)]
            values = [
                _audit(AuditType.DELETION_SCHEDULED, at, alarm, customer, objects=media, rule="R1",
                       deadline=at + timedelta(days=7)),
                _audit(AuditType.DELETED, at + timedelta(days=7), alarm, customer, objects=media),
            ]  # fmt: skip
            if n % 40 == 0:
                case, hold = f"case-{len(cases)}", str(uuid.uuid4())
                cases.append(case)
                values += [
                    _audit(AuditType.HOLD_ACCEPTED, at + timedelta(hours=1), alarm, customer, hold_id=hold,
                           details={"case_reference": case, "placed_by": "liaison"}),
                    _audit(AuditType.HOLD_RELEASED, at + timedelta(days=3), alarm, customer, hold_id=hold),
                ]  # fmt: skip
            for value in values:
                batch.append(row_of(Record(Source.AUDIT, 0, offset, None, value), KEPT))
                offset += 1
            n += len(values)
            if len(batch) >= WRITE_BATCH:
                await archive.write(batch, {("bench-audit", 0): offset})
                batch = []
        await archive.write(batch, {("bench-audit", 0): offset})
    return cases


def _audit(kind: AuditType, at: datetime, alarm: str, customer: str, **fields: Any) -> bytes:
    return audit_record(
        kind,
        occurred_at=at,
        alarm_id=alarm,
        customer_id=customer,
        caused_by=f"{kind.value}-{alarm}",
        **fields,
    ).to_json()
