"""The faust agents: thin loops that hand each record to the service, one at a time.

Concurrency stays 1: with more, faust may commit past a record still in flight (faust-streaming #606),
and the order of holds against deletions within a partition is the point of the design.
"""

from __future__ import annotations

from typing import Any

from streams.kafka.topics import Topics
from streams.worker.service import RetentionService


def register_agents(app: Any, topics: Topics, service: RetentionService) -> None:
    @app.agent(topics.inputs, name="rekey", concurrency=1)
    async def rekey(stream: Any) -> None:
        async for event in stream.events():
            await service.handle_input(event.message)

    @app.agent(topics.alarm_stream, name="alarm-state", concurrency=1)
    async def alarm_state(stream: Any) -> None:
        async for event in stream.events():
            await service.handle_alarm_stream(event.message)

    @app.agent(topics.customer_stream, name="customer-events", concurrency=1)
    async def customer_events(stream: Any) -> None:
        async for event in stream.events():
            await service.handle_customer_event(event.message)
