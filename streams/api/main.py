"""`python -m streams api`: the HTTP API and the dashboard on their own, any number of them.

They read the archive (DATABASE_URL) and produce what the API produces (hold events, customer requests,
sweep requests) to the same topics as a worker's API does, so every API process and every worker
answers alike. No stream processing and no tables here: it scales with readers, not with partitions.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer
from psycopg_pool import AsyncConnectionPool

from config.settings import Settings
from handlers.commands import SweepRequested
from streams.api.access_log import AccessLog
from streams.api.http import ApiContext
from streams.api.server import build_web_app, serve
from streams.clock import SystemClock
from streams.kafka.broker_probe import BrokerProbe
from streams.kafka.partitioning import partition_for
from streams.kafka.security import client_options
from streams.postgres.archive_reader import ArchiveReader
from streams.postgres.read_model import ArchiveReads
from streams.protection.pseudonyms import Pseudonyms
from streams.s3.client import make_evidence_store
from streams.worker.metrics import Metrics

log = structlog.get_logger(__name__)
CHECK_SECONDS = 2.0


class _Producer:
    """Sends and waits for the broker's acknowledgement, as the worker's API does."""

    def __init__(self, settings: Settings) -> None:
        self._producer = AIOKafkaProducer(acks="all", **client_options(settings))
        self._topics = settings.topics

    async def start(self) -> None:
        while True:  # the broker may not answer yet: keep trying, say so
            try:
                await self._producer.start()
                return
            except Exception as exc:
                log.warning("broker.unreachable", error=type(exc).__name__)
                await asyncio.sleep(CHECK_SECONDS)

    async def stop(self) -> None:
        await self._producer.stop()

    async def hold(self, alarm_id: str, value: bytes) -> None:
        await self._producer.send_and_wait(self._topics.police_holds, value, key=alarm_id.encode("utf-8"))

    async def for_alarm(self, alarm_id: str, value: bytes) -> None:
        """A message to the alarm's partition of the internal topic (the service's partitioner)."""
        partitions = await self._producer.partitions_for(self._topics.internal)
        partition = partition_for(alarm_id, len(partitions))
        await self._producer.send_and_wait(
            self._topics.internal, value, key=f"partition-{partition}".encode(), partition=partition
        )

    async def access(self, key: bytes, value: bytes) -> None:
        await self._producer.send_and_wait(self._topics.access_log, value, key=key)

    async def request(self, customer_id: str, value: bytes) -> None:
        await self._producer.send_and_wait(
            self._topics.customer_requests, value, key=customer_id.encode("utf-8")
        )

    async def sweep(self, requested_by: str) -> str:
        """Ask the owner of partition 0 to sweep (as a worker's API does: on the internal topic)."""
        command = SweepRequested(event_id=str(uuid.uuid4()), requested_by=requested_by)
        await self._producer.send_and_wait(
            self._topics.internal,
            command.model_dump_json().encode("utf-8"),
            key=b"partition-0",
            partition=0,
        )
        return command.event_id


class _Status:
    def __init__(self) -> None:
        self.problem: str | None = "starting"

    async def watch(self, read: ArchiveReads, broker: BrokerProbe) -> None:
        while True:
            try:
                caught_up = await read.caught_up()
                self.problem = broker.problem or (None if caught_up else "the archive has not caught up yet")
            except Exception as exc:
                self.problem = f"the archive did not answer ({type(exc).__name__})"
            await asyncio.sleep(CHECK_SECONDS)

    def health(self) -> dict[str, Any]:
        return {
            "status": "ready" if self.problem is None else "degraded",
            "role": "api",
            "problem": self.problem,
        }


async def run_api(settings: Settings) -> None:
    assert settings.database_url is not None
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        settings.database_url.get_secret_value(), min_size=1, max_size=8, open=False, name="api"
    )
    producer = _Producer(settings)
    await producer.start()
    broker = BrokerProbe(client_options(settings))
    partitions = settings.partitions or 0  # only the sweep, in the workers, needs it
    read = ArchiveReads(pool, partitions, settings.hold_retention)
    status = _Status()
    ctx = ApiContext(
        settings=settings,
        read=read,
        clock=SystemClock(),
        publish_hold=producer.hold,
        health=status.health,
        request_sweep=producer.sweep,
        publish_request=producer.request,
        archive=ArchiveReader(pool, Pseudonyms(settings.pseudonym_secret())),
        access_log=AccessLog(producer.access, Pseudonyms(settings.pseudonym_secret())),
        evidence=make_evidence_store(settings),
        publish_internal=producer.for_alarm,
    )
    try:
        await asyncio.gather(
            serve(build_web_app(ctx, Metrics()), settings.web_host, settings.web_port),
            broker.run(),
            status.watch(read, broker),
        )
    finally:
        await producer.stop()
        await pool.close()


def main(settings: Settings) -> int:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_api(settings))
    return 0
