"""The composition root: settings, object store, clock and topics wired into one faust app."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust
import structlog

from config.settings import Settings
from streams.agents import register_agents
from streams.alarm_table import AlarmTable
from streams.clock import Clock
from streams.contract_ends import ContractEnds
from streams.object_store import ObjectStore
from streams.service import RetentionService
from streams.topics import define_topics
from streams.web import register_pages

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RetentionApp:
    app: Any  # faust.App
    service: RetentionService


def build_app(settings: Settings, partitions: int, store: ObjectStore, clock: Clock) -> RetentionApp:
    session = settings.kafka_session_timeout.total_seconds()
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{server.strip()}" for server in settings.kafka_bootstrap_servers.split(",")],
        store="memory://",
        topic_partitions=partitions,
        processing_guarantee="at_least_once",  # Tansu has no transactions; every handler is idempotent
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        table_standby_replicas=0,
        topic_replication_factor=settings.kafka_replication_factor,
        broker_session_timeout=session,
        broker_heartbeat_interval=min(3.0, session / 5),
        datadir=settings.state_dir,
        web_enabled=True,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_tables_enabled=False,  # the tables hold personal data
        web_stats_enabled=False,
        web_graph_enabled=False,
    )
    topics = define_topics(app, settings.topics)
    table = app.Table("alarms", key_type=bytes, value_type=bytes, partitions=partitions)
    contract_table = app.Table("contract-ends", key_type=bytes, value_type=bytes, partitions=partitions)
    service = RetentionService(
        settings=settings,
        clock=clock,
        store=store,
        alarms=AlarmTable(table, partitions),
        contract_ends=ContractEnds(contract_table),
        topics=topics,
    )
    register_agents(app, topics, service)
    register_pages(app, service)

    def owned_partitions() -> set[int]:
        return {
            tp.partition for tp in app.assignor.assigned_actives() if tp.topic == settings.topics.internal
        }

    @table.on_recover
    async def _rebuild_schedule() -> None:
        service.rebuild(owned_partitions())

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def _forget(sender: Any, revoked: set[Any], **_: Any) -> None:
        service.forget_partitions({tp.partition for tp in revoked if tp.topic == settings.topics.internal})

    @app.task
    async def _scheduler() -> None:
        await service.scheduler.run()

    @app.task
    async def _deleter() -> None:
        await service.deleter.run()

    @app.task
    async def _legal_holds() -> None:
        await service.legal_holds.run()

    return RetentionApp(app=app, service=service)
