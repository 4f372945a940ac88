"""A RetentionService with its ports faked (the clock, topics, tables, an in-memory store), and a way
to feed it records as the worker does. For unit tests of the shell only."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from config.settings import TopicNames, load_settings
from streams.audit.chain import AuditChain
from streams.kafka.topics import Topics
from streams.s3.object_store import InMemoryObjectStore
from streams.tables.alarms import AlarmTable
from streams.tables.contract_ends import ContractEnds
from streams.tables.customers import CustomerTable
from streams.worker.backlog_gate import BacklogGate
from streams.worker.service import RetentionService
from tests.fakes import FakeClock, FakeTable, FakeTopic

PARTITIONS = 4


@dataclass
class Message:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: float = 0.0
    headers: tuple[tuple[str, bytes], ...] = ()


def fake_topics() -> Topics:
    """Every topic the shell sends to, as a FakeTopic; none to read from (tests call the handlers)."""
    return Topics(
        names=TopicNames(),
        inputs=None,
        alarm_stream=None,
        customer_stream=None,
        alarm_stream_out=FakeTopic(),
        customer_stream_out=FakeTopic(),
        audit=FakeTopic(),
        deadletter=FakeTopic(),
        access_log=FakeTopic(),
        deadletter_keys=FakeTopic(),
        internal=FakeTopic(),
        holds_out=FakeTopic(),
        erasure_commands=FakeTopic(),
        request_outcomes=FakeTopic(),
        requests_out=FakeTopic(),
    )


def make_service(
    clock: FakeClock,
    backlog_gate: BacklogGate | None = None,
    alarms: FakeTable | None = None,
    customers: FakeTable | None = None,
) -> RetentionService:
    """`alarms`, `customers`: the tables' contents, to build a successor worker on what a crashed one
    left."""
    topics = fake_topics()
    # The tables are fakes here, in memory, and so is the deadline index (TABLE_STORE=memory).
    settings = load_settings(
        kafka_bootstrap_servers="unused:9092", media_buckets="media", table_store="memory"
    )
    return RetentionService(
        settings=settings,
        clock=clock,
        store=InMemoryObjectStore(),
        alarms=AlarmTable(FakeTable() if alarms is None else alarms, PARTITIONS),
        contract_ends=ContractEnds(FakeTable()),
        customers=CustomerTable(FakeTable() if customers is None else customers, PARTITIONS),
        topics=topics,
        audit_chain=AuditChain(topics.audit, {}, "retention-audit"),
        backlog_gate=backlog_gate,
    )


def alarm_message(alarm_id: str, value: bytes, offset: int = 0, partition: int = 0) -> Message:
    """A record of alarm-events as a producer wrote it (on any partition)."""
    return Message("alarm-events", partition, offset, alarm_id.encode(), value)


async def deliver(service: RetentionService, message: Message) -> None:
    """An input record through the re-keying stage to the stage that applies it, as in the worker."""
    names = service.topics.names
    outputs = [
        (service.topics.alarm_stream_out, names.alarm_stream, service.handle_alarm_stream),
        (service.topics.customer_stream_out, names.customer_stream, service.handle_customer_event),
    ]
    before = [len(out.sent) for out, _, _ in outputs]
    await service.handle_input(message)
    for (out, topic, handle), count in zip(outputs, before, strict=True):
        for offset, item in enumerate(out.sent[count:], start=count):
            await handle(
                Message(
                    topic, item["partition"], offset, item["key"], item["value"], 0.0, tuple(item["headers"])
                )
            )


def sent(topic: Any) -> list[dict[str, Any]]:
    return [json.loads(item["value"]) for item in topic.sent]
