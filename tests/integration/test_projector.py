"""The projector between a real broker (both of Tansu's engines) and a real PostgreSQL: every record
sent is in the archive once, an unreadable one is skipped without stopping the rest, and a projector
started again reads on from where the archive says it stopped, not from the beginning."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from aiokafka import AIOKafkaProducer

from handlers.state import AlarmState, MediaObject, encode_state
from streams.local.postgres import LocalPostgres
from streams.local.stack import LocalStack, _free_port
from streams.postgres.archive_writer import open_archive
from streams.postgres.migrate import migrate
from streams.projector.feed import Progress, ProjectorFeed
from streams.projector.rows import Kept, Record, Source, row_of

pytestmark = pytest.mark.integration
KEPT = Kept(audit=timedelta(days=2192), deadletter=timedelta(days=30), answers=timedelta(days=14))
PARTITIONS = 2


def _audit_record(audit_id: str, alarm_id: str) -> bytes:
    return json.dumps(
        {
            "type": "media.deleted",
            "audit_id": audit_id,
            "occurred_at": datetime.now(UTC).isoformat(),
            "alarm_id": alarm_id,
            "customer_id": "C1",
            "caused_by": "e1",
        }
    ).encode()


def _state(alarm_id: str, objects: int) -> bytes:
    media = tuple(MediaObject(bucket="b", key=f"{alarm_id}/{i}") for i in range(objects))
    return encode_state(AlarmState(alarm_id=alarm_id, customer_id="C1", triggered_at=None, media=media))


class _Topics:
    def __init__(self, stack: LocalStack) -> None:
        prefix = f"proj-{uuid.uuid4().hex[:8]}"
        self.audit, self.states = f"{prefix}-audit", f"{prefix}-alarms-changelog"
        self.deadletter, self.answers = f"{prefix}-deadletter", f"{prefix}-outcomes"
        self.customers = f"{prefix}-customers-changelog"
        stack.create_topics(
            [self.audit, self.states, self.deadletter, self.answers, self.customers], PARTITIONS
        )
        self.sources = {
            self.audit: Source.AUDIT,
            self.states: Source.ALARM_STATES,
            self.deadletter: Source.DEADLETTER,
            self.answers: Source.ANSWERS,
            self.customers: Source.CUSTOMER_RECORDS,
        }


async def _send(stack: LocalStack, messages: list[tuple[str, bytes, bytes | None]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, linger_ms=5)
    await producer.start()
    try:
        for topic, key, value in messages:
            await producer.send(topic, key=key, value=value)  # partitioned by key, as the worker does
        await producer.flush()
    finally:
        await producer.stop()


async def _until(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        await asyncio.sleep(0.2)


def _count(url: str, sql: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


async def _run_until(
    stack: LocalStack, url: str, topics: _Topics, done: Callable[[Progress], bool], what: str
) -> Progress:
    progress = Progress()
    feed = ProjectorFeed(
        lambda: open_archive(url),
        {"bootstrap_servers": stack.kafka_bootstrap},
        topics.sources,
        KEPT,
        progress,
    )
    task = asyncio.create_task(feed.run())
    try:
        await _until(lambda: progress.caught_up and done(progress), what)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return progress


async def test_every_record_sent_is_archived_once_and_a_restart_reads_on(
    each_broker: LocalStack, database_url: str
) -> None:
    stack, url = each_broker, database_url
    await migrate(url)
    topics = await asyncio.to_thread(_Topics, stack)
    first = [str(uuid.uuid4()) for _ in range(300)]
    burst: list[tuple[str, bytes, bytes | None]] = [
        (topics.audit, f"A{i % 40}".encode(), _audit_record(a, f"A{i % 40}")) for i, a in enumerate(first)
    ]
    burst += [(topics.audit, b"A1", _audit_record(first[0], "A1"))]  # published twice by a crash
    burst += [(topics.audit, b"A2", b"{not json")]  # a producer's mistake
    refused = json.loads(_audit_record(str(uuid.uuid4()), "A3"))
    refused["details"] = {"case_reference": "2026\u0000POL"}  # JSON PostgreSQL will not store
    burst += [(topics.audit, b"A3", json.dumps(refused).encode())]
    burst += [(topics.states, f"A{i}".encode(), _state(f"A{i}", 3)) for i in range(40)]
    burst += [(topics.states, b"A0", None)]  # A0's state ended
    await _send(stack, burst)

    progress = await _run_until(
        stack, url, topics, lambda p: p.read >= len(burst), "archiving the first burst"
    )
    assert _count(url, "SELECT count(*) FROM audit_records") == len(first)
    assert _count(url, "SELECT count(DISTINCT audit_id) FROM audit_records") == len(first)
    assert progress.skipped == {"audit": 2}
    assert _count(url, "SELECT count(*) FROM alarm_states") == 39
    assert _count(url, "SELECT count(*) FROM alarm_states WHERE alarm_id = 'A0'") == 0
    assert sum(progress.lag.values()) == 0

    second = [str(uuid.uuid4()) for _ in range(50)]
    await _send(stack, [(topics.audit, b"A5", _audit_record(a, "A5")) for a in second])
    again = await _run_until(stack, url, topics, lambda p: p.read >= len(second), "archiving the second")
    assert again.read == len(second), "the restarted projector read records the archive already had"
    assert _count(url, "SELECT count(*) FROM audit_records") == len(first) + len(second)


async def test_the_database_crashing_under_load_loses_and_repeats_nothing(
    memory_stack: LocalStack, tmp_path: Path
) -> None:
    """PostgreSQL SIGKILLed while the projector writes a burst, and started again on its data: the
    projector says why it is not writing, retries, and resumes from the last committed batch."""
    database = LocalPostgres(tmp_path / "data", _free_port())
    database.start()
    try:
        url = database.url
        await migrate(url)
        topics = await asyncio.to_thread(_Topics, memory_stack)
        sent = [str(uuid.uuid4()) for _ in range(3000)]
        progress = Progress()
        feed = ProjectorFeed(
            lambda: open_archive(url),
            {"bootstrap_servers": memory_stack.kafka_bootstrap},
            topics.sources,
            KEPT,
            progress,
        )
        task = asyncio.create_task(feed.run())
        try:
            await _send(memory_stack, [(topics.audit, b"A1", _audit_record(a, "A1")) for a in sent[:1500]])
            await _until(lambda: progress.read > 0, "the first batch")
            database.kill()
            sending = asyncio.create_task(
                _send(memory_stack, [(topics.audit, b"A2", _audit_record(a, "A2")) for a in sent[1500:]])
            )
            await _until(lambda: progress.problem is not None, "the projector noticing the database is gone")
            await sending
            await asyncio.to_thread(database.start)
            await _until(
                lambda: (
                    progress.problem is None and sum(progress.lag.values()) == 0 and progress.read >= 3000
                ),
                "the projector catching up after the database came back",
            )
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        assert _count(url, "SELECT count(*) FROM audit_records") == len(sent)
        assert _count(url, "SELECT sum(next_offset) FROM projector_positions") == len(sent)
    finally:
        database.stop()


async def test_a_topic_made_anew_is_read_again_and_its_states_replaced(
    memory_stack: LocalStack, database_url: str
) -> None:
    """The archive was filled from a cluster since rebuilt: its positions lie past the new topics' ends,
    and its states carry offsets the new changelog will never reach. Nothing new may be refused for it."""
    url = database_url
    await migrate(url)
    topics = await asyncio.to_thread(_Topics, memory_stack)
    old = Record(Source.ALARM_STATES, 0, 1_000_000, b"A1", _state("A1", 9))
    async with open_archive(url) as archive:
        positions = {(topic, p): 1_000_001 for topic in topics.sources for p in range(PARTITIONS)}
        await archive.write([row_of(old, KEPT)], positions)
    await _send(memory_stack, [(topics.states, f"A{i}".encode(), _state(f"A{i}", 3)) for i in range(1, 6)])

    progress = await _run_until(memory_stack, url, topics, lambda p: p.read >= 5, "reading the new topics")
    assert _count(url, "SELECT count(*) FROM alarm_states") == 5
    assert _count(url, "SELECT pending FROM alarm_states WHERE alarm_id = 'A1'") == 3  # the new cluster's
    assert progress.lost == {}
