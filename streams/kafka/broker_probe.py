"""Whether the broker answers: a metadata request every few seconds, for /health and the metrics."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer

log = structlog.get_logger(__name__)
PROBE_INTERVAL = 3.0
PROBE_TIMEOUT = 5.0


class BrokerProbe:
    def __init__(self, client_options: dict[str, Any]) -> None:
        self._client_options = client_options
        self.problem: str | None = None  # set while the broker does not answer

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(enable_auto_commit=False, **self._client_options)
        while True:  # the first connection too may have to wait for the broker
            try:
                await consumer.start()
                break
            except Exception as exc:
                self._say(f"the broker did not answer ({type(exc).__name__})")
                await asyncio.sleep(PROBE_INTERVAL)
        try:
            while True:
                try:
                    ok = await asyncio.wait_for(consumer._client.force_metadata_update(), PROBE_TIMEOUT)
                    problem = None if ok else "the broker did not answer a metadata request"
                except (TimeoutError, OSError) as exc:
                    problem = f"the broker did not answer within {PROBE_TIMEOUT:.0f} s ({type(exc).__name__})"
                self._say(problem)
                await asyncio.sleep(PROBE_INTERVAL)
        finally:
            await consumer.stop()

    def _say(self, problem: str | None) -> None:
        if problem != self.problem:
            (log.warning if problem else log.info)("broker.reachability", problem=problem)
        self.problem = problem
