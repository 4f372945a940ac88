"""The composition root: settings, object store, clock and topics wired into one faust app."""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from psycopg_pool import AsyncConnectionPool

from config.settings import Settings
from streams.api.access_log import AccessLog
from streams.api.http import ApiContext
from streams.api.server import build_web_app, serve
from streams.audit.anchor import AuditAnchor
from streams.audit.chain import AuditChain
from streams.audit.checkpoints import AuditCheckpoints
from streams.clock import Clock
from streams.kafka import transport as kafka_transport
from streams.kafka.acknowledgements import Acknowledgements, TrackedTable
from streams.kafka.broker_probe import BrokerProbe
from streams.kafka.security import client_options, faust_credentials
from streams.kafka.topic_configs import changelog_configs
from streams.kafka.topics import define_topics
from streams.kafka.topology import changelog_topics
from streams.postgres.archive_reader import ArchiveReader
from streams.postgres.read_model import ArchiveReads
from streams.protection.protector import KeyLifetimes, Protector
from streams.protection.pseudonyms import Pseudonyms
from streams.protection.subject_keys import SubjectKeys
from streams.s3.client import make_evidence_store, make_s3_client
from streams.s3.object_store import ObjectStore
from streams.tables import synced_store
from streams.tables.alarms import AlarmTable
from streams.tables.contract_ends import ContractEnds
from streams.tables.customers import CustomerTable
from streams.tables.store import rocksdb_options
from streams.worker.agents import register_agents
from streams.worker.backlog_gate import BacklogGate
from streams.worker.customer_requests import CustomerRequests
from streams.worker.metrics import Metrics, WorkerFigures
from streams.worker.projection import ActiveHold, Projection, ProjectionFeed
from streams.worker.read_model import ProjectionReads, ReadModel
from streams.worker.recovery_check import RecoveryCheck
from streams.worker.service import RetentionService, policy_from
from streams.worker.sweep import Sweeper

log = structlog.get_logger(__name__)
LAG_INTERVAL_SECONDS = 5.0
SWEEP_CHECK_SECONDS = 30.0
SHUTDOWN_FLUSH_SECONDS = 10.0  # how long a stopping worker waits for acknowledgements before its checkpoint
CRASH_EXIT_SECONDS = 15.0  # how long a crashed worker may take to stop before it exits regardless
FIGURES_INTERVAL_SECONDS = 2.0  # how often /metrics and /health figures of the read model are refreshed


@dataclass(frozen=True)
class RetentionApp:
    app: Any  # faust.App
    service: RetentionService
    read: ReadModel


def build_app(settings: Settings, partitions: int, store: ObjectStore, clock: Clock) -> RetentionApp:
    session = settings.kafka_session_timeout.total_seconds()
    kafka_transport.register()
    app = kafka_transport.RetentionFaust(
        settings.app_id,
        broker=[
            f"{kafka_transport.SCHEME}://{s.strip()}" for s in settings.kafka_bootstrap_servers.split(",")
        ],
        store=f"{synced_store.SCHEME}://" if settings.table_store == "rocksdb" else "memory://",
        topic_partitions=partitions,
        processing_guarantee="at_least_once",  # Tansu has no transactions; every handler is idempotent
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_linger=settings.kafka_producer_linger.total_seconds(),
        producer_max_batch_size=512 * 1024,  # per partition: a burst goes in few batches (see linger)
        table_standby_replicas=0,
        topic_replication_factor=settings.kafka_replication_factor,
        broker_session_timeout=session,
        broker_heartbeat_interval=min(3.0, session / 5),
        broker_commit_interval=settings.kafka_commit_interval.total_seconds(),
        datadir=settings.state_dir,
        web_enabled=False,  # our own server (streams/api) serves the API, dashboard and metrics
        broker_credentials=faust_credentials(settings),
        Table=TrackedTable,  # so that audit records can wait for the state they describe
    )
    app.fetch_max_wait_ms = int(settings.kafka_fetch_max_wait.total_seconds() * 1000)
    topics = define_topics(app, settings.topics)

    def table(name: str) -> Any:
        # The store's options are its own: faust's RocksDB store takes keys out of the mapping it gets.
        options = rocksdb_options(settings) if settings.table_store == "rocksdb" else None
        return app.Table(
            name,
            key_type=bytes,
            value_type=bytes,
            partitions=partitions,
            options=options,
            **changelog_configs(settings),
        )

    alarm_table, contract_table, customer_table = table("alarms"), table("contract-ends"), table("customers")
    key_table = table("subject-keys")
    # What must be durable before it is claimed or committed past (streams/kafka/acknowledgements.py).
    writes = Acknowledgements("the tables' changelogs")
    for tracked in (alarm_table, contract_table, customer_table, key_table):
        tracked.writes = writes  # a TrackedTable (Table= above)
    app.outgoing = Acknowledgements("the producer")
    metrics = Metrics()
    names = settings.topics
    sources = (
        *(names.alarm_events, names.police_holds, names.contract_events, names.erasure_confirmations),
        *(names.customer_requests, names.alarm_stream, names.customer_stream, names.internal),
    )
    for source in sources:
        metrics.deadlettered.labels(source)  # at 0 from the start: the first dead letter is an increase
    checkpoints = AuditCheckpoints(
        app.topic(
            settings.topics.audit_checkpoints,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        ),
        clock,
        settings.audit_checkpoint_interval,
        anchor=AuditAnchor(
            make_s3_client(settings),
            settings.audit_anchor_bucket,
            settings.topics.audit,
            settings.audit_retention,
        )
        if settings.audit_anchor_bucket
        else None,
    )
    contract_ends = ContractEnds(contract_table)
    subject_keys = SubjectKeys(key_table)
    pseudonyms = Pseudonyms(settings.pseudonym_secret())
    protector = Protector(
        subject_keys,
        pseudonyms,
        KeyLifetimes(
            customer_after_contract_end=settings.customer_key_ends,
            hold_details=settings.hold_retention + settings.hold_details_kept,
            records=settings.audit_retention,
            unattributed=settings.deadletter_retention,
        ),
        contract_ended=lambda customer_id: (ended := contract_ends.get(customer_id)) and ended[0],
        clock=clock,
        on_key=lambda name, key: service.key_expiry.track(name, key),
    )
    audit_chain = AuditChain(
        topics.audit,
        client_options(settings),
        settings.topics.audit,
        writes,
        checkpoints=checkpoints,
        checkpoint_topic=settings.topics.audit_checkpoints,
        protector=protector,
        chain_key=settings.chain_key(),
    )

    async def everything_sent_is_durable() -> None:
        """Before an offset is committed: the audit records of the events up to it are released (they
        wait for their state), and every message sent so far is acknowledged."""
        assert app.outgoing is not None
        await audit_chain.released()
        await app.outgoing.reached(app.outgoing.mark())

    crashing: set[asyncio.Future[None]] = set()
    exit_timer: list[threading.Timer] = []

    def crash(reason: Exception) -> None:
        # The events whose records were lost are not committed: a restart processes them again.
        crashing.add(asyncio.ensure_future(app.crash(reason)))
        if not exit_timer:
            exit_timer.append(_exit_if_still_running_after(CRASH_EXIT_SECONDS))

    writes.on_failure(crash)
    app.outgoing.on_failure(crash)
    app.before_commit = everything_sent_is_durable
    service = RetentionService(
        settings=settings,
        clock=clock,
        store=store,
        alarms=AlarmTable(alarm_table, partitions),
        contract_ends=contract_ends,
        customers=CustomerTable(customer_table, partitions),
        protector=protector,
        topics=topics,
        audit_chain=audit_chain,
        metrics=metrics,
        backlog_gate=BacklogGate(
            client_options(settings),
            settings.app_id,
            settings.topics.police_holds,
            settings.topics.alarm_stream,
        ),
    )
    register_agents(app, topics, service)
    # The state of every partition: the archive's, or (without DATABASE_URL) a model of our own.
    archive = _archive_pool(settings)
    feed: ProjectionFeed | None = None
    read: ReadModel
    if archive is not None:
        read = ArchiveReads(archive, partitions, settings.hold_retention)
    else:
        projection = Projection(partitions, settings.hold_retention)
        read = ProjectionReads(projection)
        feed = ProjectionFeed(
            projection,
            client_options(settings),
            changelog=changelog_topics(settings)[0],
            audit=settings.topics.audit,
            deadletter=settings.topics.deadletter,
            customers_changelog=changelog_topics(settings)[2],
            request_outcomes=settings.topics.request_outcomes,
            subject_keys=changelog_topics(settings)[3],
        )
    broker = BrokerProbe(client_options(settings))
    figures = _FiguresCache()
    service.sweeper = Sweeper(
        store=store,
        clock=clock,
        read_model=read,
        policy=policy_from(settings),
        buckets=settings.media_buckets,
        grace=settings.sweep_grace,
        keys_per_second=settings.sweep_max_keys_per_second,
        report=service.send_to_partition_0,
        ask_for_check=lambda partition, ids: service.notify_deadlines(partition, ids, clock.now()),
    )
    service.customer_requests = CustomerRequests(
        read_model=read,
        customers=service.erasures.customers,
        policy=policy_from(settings),
        clock=clock,
        audit_chain=audit_chain,
        outcomes_topic=topics.request_outcomes,
        audit_fields=protector.customer_fields,
        recorded_disclosures=ArchiveReader(archive, pseudonyms).disclosures_of_customer if archive else None,
    )
    lag: dict[tuple[str, int], int] = {}
    metrics.watch(lambda: _figures(service, figures, broker, lag))
    recovery_check = RecoveryCheck(app, client_options(settings))
    api = ApiContext(
        settings=settings,
        read=read,
        clock=clock,
        publish_hold=service.publish_hold_event,
        health=lambda: _health(
            service, figures, broker, recovery_check, [writes, app.outgoing], checkpoints.anchor
        ),
        request_sweep=service.request_sweep,
        publish_request=service.publish_customer_request,
        archive=ArchiveReader(archive, pseudonyms) if archive is not None else None,
        access_log=AccessLog(service.record_access, pseudonyms),
        evidence=make_evidence_store(settings),
        publish_internal=service.publish_for_alarm,
    )

    def owned_partitions() -> set[int]:
        return {
            tp.partition for tp in app.assignor.assigned_actives() if tp.topic == settings.topics.internal
        }

    @alarm_table.on_recover
    async def _rebuild_schedule() -> None:
        # faust resumes the streams only after this returns: nothing is decided before the tables are
        # known to hold their changelogs to the end.
        generation = app.consumer_generation_id

        def superseded() -> bool:
            return bool(app.consumer_generation_id != generation)

        try:
            if not await recovery_check.verify(superseded):
                return
            owned = owned_partitions()
            await everything_sent_is_durable()  # the chains' tails are in the topic before they are read
            resumed = await recovery_check.retried(
                "cannot read the audit chains' last records", lambda: audit_chain.resume(owned), superseded
            )
            if resumed and not superseded():
                service.rebuild(owned)
                opening.discard_and_start(open_after_backlog(owned, superseded))
        except Exception as exc:
            # faust would resume the streams on a state nobody checked: stop instead, and be restarted.
            log.exception("recovery.failed", error=type(exc).__name__)
            crash(exc)

    async def open_after_backlog(owned: set[int], superseded: Any) -> None:
        assert service.backlog_gate is not None
        try:
            deferred = await service.backlog_gate.drain(owned)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the gate would stay shut and nothing be deleted: restart instead
            log.exception("deadlines.gate_failed", error=type(exc).__name__)
            crash(exc)
            return
        if not superseded():
            service.act_on_deferred(deferred)

    opening = _OneTask()

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def _forget(sender: Any, revoked: set[Any], **_: Any) -> None:
        opening.discard()
        given_away = {tp.partition for tp in revoked if tp.topic == settings.topics.internal}
        checkpoints.write(given_away)  # the chains' heads as this worker leaves them
        checkpoints.forget(given_away)
        try:
            async with asyncio.timeout(SHUTDOWN_FLUSH_SECONDS):
                await checkpoints.flush_anchor()
        except TimeoutError:
            log.warning("audit_anchor.not_flushed_on_revoke")
        service.forget_partitions(given_away)

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def _checkpoint_on_stop(sender: Any, **_: Any) -> None:
        """Stopping (Ctrl-C, SIGTERM): faust revokes only its tables, so the chains' heads are
        checkpointed here, once what was sent has been acknowledged; faust flushes the producer after."""
        try:
            if app._producer is not None:  # `app.producer` would make one
                async with asyncio.timeout(SHUTDOWN_FLUSH_SECONDS):
                    # The last audit records reach the producer only once their states are durable.
                    await everything_sent_is_durable()
        except Exception as exc:  # the heads acknowledged so far are still worth writing
            log.warning("audit_checkpoint.on_stop_incomplete", error=type(exc).__name__)
        log.info("audit_checkpoint.on_stop", written=checkpoints.write())
        try:
            async with asyncio.timeout(SHUTDOWN_FLUSH_SECONDS):
                await checkpoints.flush_anchor()
        except TimeoutError:
            log.warning("audit_anchor.not_flushed_on_stop")

    @app.task
    async def _scheduler() -> None:
        await service.scheduler.run()

    @app.task
    async def _erasure_scheduler() -> None:
        await service.erasures.scheduler.run()

    @app.task
    async def _contract_end_expiry() -> None:
        await service.contract_end_expiry.scheduler.run()

    @app.task
    async def _deadletter_keys() -> None:
        await service.deadletter_keys.run(client_options(settings), settings.topics.deadletter_keys)

    @app.task
    async def _key_expiry() -> None:
        await service.key_expiry.scheduler.run()

    @app.task
    async def _audit_checkpoints() -> None:
        await checkpoints.run()

    @app.task
    async def _deleter() -> None:
        await service.deleter.run()

    @app.task
    async def _legal_holds() -> None:
        await service.legal_holds.run()

    @app.task
    async def _projection() -> None:
        if feed is not None:
            await feed.run()

    @app.task
    async def _broker_probe() -> None:
        await broker.run()

    @app.task
    async def _figures_refresh() -> None:
        """What /metrics and /health report of the read model, refreshed off the scrape (the archive's
        queries are not to be awaited inside a scrape)."""
        while True:
            try:
                await figures.refresh(read, service.partitions, clock.now(), settings.overdue_grace)
            except Exception as exc:  # the archive is away: the last figures stay, marked stale
                figures.failed(type(exc).__name__)
            await asyncio.sleep(FIGURES_INTERVAL_SECONDS)

    @app.task
    async def _http() -> None:
        await serve(build_web_app(api, metrics), settings.web_host, settings.web_port)

    @app.task
    async def _sweep_schedule() -> None:
        """The owner of partition 0 sweeps when the last sweep (in the audit trail) is too old."""
        if settings.sweep_interval.total_seconds() <= 0:
            return
        while True:
            await asyncio.sleep(SWEEP_CHECK_SECONDS)
            if not (service.ready and figures.caught_up and 0 in service.partitions):
                continue
            last = await read.last_sweep()
            since = clock.now() - settings.sweep_interval
            due = last is None or datetime.fromisoformat(last["occurred_at"]) < since
            if due and service.sweeper is not None and not service.sweeper.running:
                service.sweeper.start(str(uuid.uuid4()), "schedule")

    @app.task
    async def _consumer_lag() -> None:
        while True:
            await asyncio.sleep(LAG_INTERVAL_SECONDS)
            lag.clear()
            for tp in app.consumer.assignment():
                # The high watermark of the consumer's latest fetch of the partition (never ListOffsets,
                # which Tansu answers short of the end); none before its first fetch.
                position = await app.consumer.position(tp)
                highwater = app.consumer.highwater(tp)
                if position is not None and highwater is not None:
                    lag[(tp.topic, tp.partition)] = max(0, highwater - position)

    return RetentionApp(app=app, service=service, read=read)


def _archive_pool(settings: Settings) -> AsyncConnectionPool[Any] | None:
    """Connections to the archive (the read model, the API and the archive endpoints), if DATABASE_URL is
    set; opened by the first query."""
    if settings.database_url is None:
        return None
    return AsyncConnectionPool(
        settings.database_url.get_secret_value(), min_size=1, max_size=4, open=False, name="archive"
    )


class _OneTask:
    """At most one task at a time: a new one replaces the old, which is cancelled."""

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    def discard_and_start(self, work: Any) -> None:
        self.discard()
        self._task = asyncio.ensure_future(work)

    def discard(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = None


def _exit_if_still_running_after(seconds: float) -> threading.Timer:
    """A crash stops the worker so that its supervisor starts a fresh one. faust's stop waits for the
    last offset commit, which a broker that lost its store answers only once the store is back (seen:
    20 s after SeaweedFS was killed): meanwhile the worker is neither working nor gone. After `seconds`
    it exits as a SIGKILL would (nothing uncommitted is lost: it is processed again)."""

    def exit_now() -> None:
        log.error("worker.crash_exit_forced", after_seconds=seconds)
        os._exit(70)  # EX_SOFTWARE

    timer = threading.Timer(seconds, exit_now)
    timer.daemon = True
    timer.start()
    return timer


class _FiguresCache:
    """The read model's figures for this worker's partitions, as last computed."""

    def __init__(self) -> None:
        self.counts = {"pending": 0, "deleting": 0, "deleted": 0, "overdue": 0}
        self.holds: list[ActiveHold] = []
        self.erasures = (0, 0)
        self.last_sweep: dict[str, Any] | None = None
        self.caught_up = False
        self.problem: str | None = None  # why the figures could not be refreshed

    async def refresh(self, read: ReadModel, owned: Collection[int], now: datetime, grace: timedelta) -> None:
        self.counts = await read.counts(now, grace, owned)
        self.holds = await read.active_holds(owned)
        self.erasures = await read.erasure_counts(owned)
        self.last_sweep = await read.last_sweep()
        self.caught_up = await read.caught_up()
        self.problem = await read.behind(now)

    def failed(self, error: str) -> None:
        self.problem = f"the archive did not answer ({error})"


def _health(
    service: RetentionService,
    figures: _FiguresCache,
    broker: BrokerProbe,
    recovery: RecoveryCheck,
    failed: list[Any],
    anchor: AuditAnchor | None = None,
) -> dict[str, Any]:
    reasons = service.degraded() + [str(f.failed) for f in failed if f.failed is not None]
    if anchor is not None and anchor.problem:
        reasons.append(anchor.problem)
    if broker.problem:
        reasons.append(broker.problem)
    body = {
        **service.health(),
        "projection_caught_up": figures.caught_up,
        "degraded": reasons,
        "recovery": recovery.problem or "complete",
    }
    if figures.problem:
        # The figures (overdue, pending) may be stale; deleting on time does not depend on them.
        reasons.append(figures.problem)
    if recovery.problem is not None:
        body["status"] = "starting"  # not ready while its state is not known to be whole
    elif reasons and body["status"] == "ready":
        body["status"] = "degraded"
    return body


def _figures(
    service: RetentionService,
    figures: _FiguresCache,
    broker: BrokerProbe,
    lag: dict[tuple[str, int], int],
) -> WorkerFigures:
    counts = figures.counts
    holds = figures.holds
    now = service.clock.now()
    soon = now + service.settings.hold_expiry_warning
    erasures_open, erasures_unconfirmed = figures.erasures
    return WorkerFigures(
        pending=counts["pending"],
        deleting=counts["deleting"],
        overdue=counts["overdue"],
        active_holds=len(holds),
        holds_expiring_soon=sum(1 for h in holds if h.expires_at <= soon),
        s3_errors={"delete": service.deleter.errors_total, "legal_hold": service.legal_holds.errors_total},
        s3_retries={
            "delete": service.deleter.failures_total,
            "legal_hold": service.legal_holds.failures_total,
        },
        lag=dict(lag),
        degraded={
            "object_store": bool(service.degraded()),
            "broker": broker.problem is not None,
            "archive": figures.problem is not None,
        },
        last_sweep=figures.last_sweep,
        erasures_open=erasures_open,
        erasures_unconfirmed=erasures_unconfirmed,
    )
