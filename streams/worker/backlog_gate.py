"""After every (re)start and rebalance, no deadline is acted on before the holds that came earlier.

A hold that reached Kafka before an alarm's deadline must win, also when no worker ran at the time (an
outage, a restart, a rebalance): the restarted worker finds deadlines already passed and holds waiting
in `police-holds`, and nothing orders its own `deadlines.reached` after them (the holds first go through
the re-keying stage, on whichever worker owns their partitions). Found by `make chaos` once deletions
were judged by the bucket: 4 objects of 2 held alarms deleted after a SIGKILL; and by
tests/e2e/test_recovery.py: 14 of 20 held objects.

So after each rebuild the worker takes the ends of every `police-holds` partition, waits until the
consumer group has committed past them (the service commits only what it has forwarded and had
acknowledged, streams/kafka/transport.py), then takes the ends of its own partitions of the alarm
stream and waits until those are committed too (applied to the state). Only then does it act on the
deadlines it was told about meanwhile. In normal operation the gate is open and costs nothing.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Collection
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from streams.kafka.topic_ends import high_watermarks, started

log = structlog.get_logger(__name__)
POLL_SECONDS = 0.5
NOTHING_LEFT_EVERY = 10  # polls (5 s) without reaching the end before asking whether records are left
NOTHING_LEFT_SECONDS = 10.0
PATIENCE_SECONDS = 300.0  # held back longer than this, /health says degraded
RETRY_SECONDS = (1.0, 2.0, 5.0, 10.0)
WAITING = "waiting until the holds that arrived before the last rebalance are applied"


class BacklogGate:
    def __init__(
        self, client_options: dict[str, Any], group: str, holds_topic: str, alarm_stream: str
    ) -> None:
        self._client_options = client_options
        self._group = group
        self._holds_topic = holds_topic
        self._alarm_stream = alarm_stream
        self.open = False
        self.status = WAITING
        self.closed_since = time.monotonic()
        self._deferred: dict[int, set[str]] = {}

    def close(self) -> None:
        if self.open:
            self.closed_since = time.monotonic()
        self.open = False
        self.status = WAITING

    def closed_for(self) -> float:
        """Seconds the gate has held deadlines back (0 while open)."""
        return 0.0 if self.open else time.monotonic() - self.closed_since

    def defer(self, partition: int, alarm_ids: Collection[str]) -> None:
        self._deferred.setdefault(partition, set()).update(alarm_ids)

    async def drain(self, partitions: Collection[int]) -> dict[int, set[str]]:
        """Until the holds' backlog is applied to these partitions; then open, and return the deadlines
        deferred meanwhile, by partition. Retries while the broker fails; cancel it on a rebalance."""
        for tries in itertools.count():
            try:
                await self._drain(partitions)
                break
            except (KafkaError, TimeoutError, OSError) as exc:
                self.status = f"{WAITING}; the broker did not answer: {type(exc).__name__}: {exc}"
                log.warning("deadlines.backlog_unknown", reason=str(exc))
                await asyncio.sleep(RETRY_SECONDS[min(tries, len(RETRY_SECONDS) - 1)])
        deferred, self._deferred = self._deferred, {}
        waited = self.closed_for()
        self.open = True
        self.status = "acting"
        log.info(
            "deadlines.acting",
            deferred=sum(len(ids) for ids in deferred.values()),
            held_back_seconds=round(waited, 1),
        )
        return {p: ids for p, ids in deferred.items() if p in set(partitions)}

    async def _drain(self, partitions: Collection[int]) -> None:
        async with started(self._client_options) as probe:
            holds = [TopicPartition(self._holds_topic, p) for p in sorted(await self._partitions_of(probe))]
            await self._committed_past(await high_watermarks(probe, holds))
            stream = [TopicPartition(self._alarm_stream, p) for p in sorted(partitions)]
            await self._committed_past(await high_watermarks(probe, stream))

    async def _partitions_of(self, probe: AIOKafkaConsumer) -> set[int]:
        partitions = probe.partitions_for_topic(self._holds_topic)
        if not partitions:
            await probe._client.force_metadata_update()
            partitions = probe.partitions_for_topic(self._holds_topic)
        if not partitions:
            raise KafkaError(f"no metadata for {self._holds_topic}")
        return set(partitions)

    async def _any_record(self, tp: TopicPartition, start: int, end: int) -> bool:
        """Whether a record lies in [start, end) of `tp`; True while that cannot be told."""
        reader = AIOKafkaConsumer(
            enable_auto_commit=False, auto_offset_reset="earliest", **self._client_options
        )
        await reader.start()
        try:
            reader.assign([tp])
            reader.seek(tp, start)
            loop = asyncio.get_running_loop()
            give_up = loop.time() + NOTHING_LEFT_SECONDS
            while loop.time() < give_up:
                batch = await reader.getmany(tp, timeout_ms=500)
                if any(record.offset < end for record in batch.get(tp, [])):
                    return True
                if await reader.position(tp) >= end:
                    return False
            return True
        finally:
            await reader.stop()

    async def _committed_past(self, ends: dict[TopicPartition, int]) -> None:
        """Until the group's committed offset of each partition has reached its end (from `ends`)."""
        waiting = {tp: end for tp, end in ends.items() if end > 0}
        if not waiting:
            return
        group = AIOKafkaConsumer(group_id=self._group, enable_auto_commit=False, **self._client_options)
        try:
            await group.start()  # asks, never joins: this consumer subscribes to nothing
            committed_now: dict[TopicPartition, int | None] = {}
            for polls in itertools.count():
                if not waiting:
                    break
                for tp, end in list(waiting.items()):
                    committed = committed_now[tp] = await group.committed(tp)
                    if committed is not None and committed >= end:
                        del waiting[tp]
                    elif polls % NOTHING_LEFT_EVERY == NOTHING_LEFT_EVERY - 1 and not await self._any_record(
                        tp, committed or 0, end
                    ):
                        # The end lies past the last record: a transaction marker (Apache Kafka, a
                        # transactional producer), or records that retention removed unread.
                        del waiting[tp]
                if waiting:
                    # Said in /health, so that an operator (and a test) can see what it waits for.
                    self.status = f"{WAITING}: " + ", ".join(
                        f"{tp.topic}/{tp.partition} committed to {end}" for tp, end in sorted(waiting.items())
                    )
                    if polls % NOTHING_LEFT_EVERY == NOTHING_LEFT_EVERY - 1:
                        log.info(
                            "deadlines.still_waiting",
                            seconds=round(self.closed_for()),
                            waiting={f"{tp.topic}/{tp.partition}": end for tp, end in waiting.items()},
                            committed={f"{tp.topic}/{tp.partition}": committed_now[tp] for tp in waiting},
                        )
                    await asyncio.sleep(POLL_SECONDS)
        finally:
            await group.stop()
