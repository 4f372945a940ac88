"""The shell around the rules: reads a record, asks `handlers` what to do, and does it.

Doing it means: write the alarm's new state to the table, publish the audit records, hand due objects
to the deleter and legal-hold changes to the keeper, and tell the scheduler when time next matters for
the alarm. Every record ends either applied or in the dead-letter topic; none is skipped.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Collection
from datetime import datetime, timedelta
from typing import Any

import structlog
from pydantic import ValidationError

from config.settings import Settings
from handlers.alarm_events import on_alarm_event
from handlers.audit import AuditRecord, AuditType, audit_record
from handlers.commands import (
    INTERNAL_MESSAGE,
    ContractEndBroadcast,
    ContractEndsExpired,
    CustomerRequestBroadcast,
    DeadlinesReached,
    DeletedObject,
    ErasuresReached,
    MediaDisclosed,
    ObjectsDeleted,
    SubjectKeysDue,
    SweepCompleted,
    SweepFindings,
    SweepRequested,
)
from handlers.contract_end import on_contract_ended, receive_contract_end
from handlers.customer_rights import on_erasure_requested, on_restriction_requested
from handlers.decoding import ForgedHold, InputTopic, InvalidEvent, decode_event
from handlers.deletions import on_objects_deleted
from handlers.disclosure import on_media_disclosed
from handlers.events import (
    AccessRequested,
    AlarmTriggered,
    CallRecorded,
    ContractEnded,
    CustomerRequest,
    ErasureCompleted,
    ErasureRequested,
    HoldPlaced,
    HoldReleased,
    InputEvent,
    MediaStored,
    RestrictionRequested,
)
from handlers.holds import on_hold_placed, on_hold_released
from handlers.personal_fields import customer_fields_end_after_erasure
from handlers.policy import Outcome, RetentionPolicy, hold_limit, next_check_at
from handlers.state import AlarmState
from handlers.sweep import completed_audit, findings_audit
from handlers.time_passed import on_time_passed
from streams.audit.chain import AuditChain
from streams.clock import Clock
from streams.kafka.deadletter import deadletter_value, source_id
from streams.kafka.source import Source
from streams.kafka.topics import Topics
from streams.protection.deadletter_keys import DeadLetterKeys
from streams.protection.key_expiry import KeyExpiry
from streams.protection.protector import Protector
from streams.protection.subject_keys import SubjectKeys
from streams.s3.object_store import ObjectStore
from streams.tables.alarms import AlarmTable
from streams.tables.contract_ends import ContractEnds
from streams.tables.customers import CustomerTable
from streams.worker.backlog_gate import PATIENCE_SECONDS, BacklogGate
from streams.worker.contract_end_expiry import ContractEndExpiry
from streams.worker.customer_alarms import customer_alarms_for
from streams.worker.customer_requests import CustomerRequests
from streams.worker.deleter import Deleter
from streams.worker.erasures import Erasures
from streams.worker.legal_holds import LegalHoldKeeper
from streams.worker.metrics import Metrics
from streams.worker.outbox import Outbox
from streams.worker.rekeying import Rekeyer
from streams.worker.scheduler import Scheduler, index_for
from streams.worker.sweep import Sweeper

# handler(message, the record it came in, now): one per kind of message to ourselves
InternalHandler = Callable[[Any, Any, datetime], Awaitable[None]]
log = structlog.get_logger("streams.worker.service")
DEGRADED_WINDOW = 30.0  # seconds since the last object-store failure during which health says degraded
FORGET_RETRY = timedelta(seconds=2)  # a record to forget whose audit records are not acknowledged yet
REBUILD_BATCH = 10_000  # alarms whose schedule entries a rebuild writes at once


def policy_from(settings: Settings) -> RetentionPolicy:
    return RetentionPolicy(
        media_retention=settings.media_retention,
        hold_retention=settings.hold_retention,
        hold_expiry_warning=settings.hold_expiry_warning,
        max_clock_skew=settings.max_clock_skew,
        alarm_marker_lifetime=settings.marker_kept,
    )


class RetentionService:
    def __init__(
        self,
        *,
        settings: Settings,
        clock: Clock,
        store: ObjectStore,
        alarms: AlarmTable,
        contract_ends: ContractEnds,
        customers: CustomerTable,
        topics: Topics,
        audit_chain: AuditChain,
        metrics: Metrics | None = None,
        backlog_gate: BacklogGate | None = None,
        protector: Protector | None = None,
    ) -> None:
        """`backlog_gate`: deadlines wait behind it after each rebalance (streams/worker/backlog_gate.py);
        None acts on them at once (unit tests, where nothing is behind)."""
        self.settings = settings
        self.policy = policy_from(settings)
        self.clock = clock
        self.alarms = alarms
        self.outbox: Outbox[AuditRecord] = Outbox(alarms.partitions, id_of=lambda record: record.audit_id)
        self.contract_ends = contract_ends
        on_disk = settings.state_dir if settings.table_store == "rocksdb" else None  # the schedulers' indexes
        self.contract_end_expiry = ContractEndExpiry(
            contract_ends,
            settings.contract_end_kept,
            clock,
            self._send_internal,
            index_for("contract-ends", on_disk),
        )
        # The keys of the audit trail's personal fields (streams/protection/); None: records in the clear.
        self.protector = protector
        self.key_expiry = KeyExpiry(
            protector.keys if protector is not None else SubjectKeys({}),
            settings.audit_retention,
            clock,
            self._send_internal,
            index_for("subject-keys", on_disk),
        )
        self.topics = topics
        self.deadletter_keys = DeadLetterKeys(
            lambda key, value: topics.deadletter_keys.send_soon(key=key, value=value),
            clock,
            settings.deadletter_retention,
        )
        self.metrics = metrics or Metrics()
        self.audit_chain = audit_chain
        self.scheduler = Scheduler(index_for("alarms", on_disk), clock, self.notify_deadlines)
        self.deleter = Deleter(
            store,
            clock,
            self.confirm_deletions,
            settings.media_buckets,
            batch_size=settings.delete_batch_size,
            concurrency=max(1, settings.s3_max_workers // 4),
        )
        self.legal_holds = LegalHoldKeeper(store)
        self.erasures = Erasures(
            customers=customers,
            schedule=settings.schedule(),
            confirm_within=settings.erasure_confirm_within,
            clock=clock,
            audit_chain=audit_chain,
            commands_topic=topics.erasure_commands,
            send_internal=self._send_internal,
            index=index_for("customers", on_disk),
        )
        self.signing_keys = settings.signing_keys() or None
        if self.signing_keys is None:
            log.warning("holds.unsigned", note="HOLD_SIGNING_KEYS is empty: hold events are not verified")
        # Derived, like the schedule: which alarms of each customer this worker has seen.
        self.customer_alarms = customer_alarms_for(on_disk)
        self.ready = False  # True once the table has been recovered after the first assignment
        self.partitions: list[int] = []  # the partitions this worker owns since the last rebalance
        self.sweeper: Sweeper | None = None  # set by the composition root, which has the read model
        self.customer_requests: CustomerRequests | None = None  # likewise
        self.rekeyer = Rekeyer(topics, alarms.partitions, settings.media_buckets, self._dead_letter_soon)
        self.backlog_gate = backlog_gate
        self._internal_handlers = self._handlers_by_message()

    # --- records from the alarm stream (alarm events, police holds, our internal messages) ---------

    async def handle_alarm_stream(self, message: Any) -> None:
        await self._guarded(message, self._route_alarm_stream)
        self._clear_sent_outboxes(message.partition)

    async def handle_customer_event(self, message: Any) -> None:
        await self._guarded(message, self._on_customer_record)
        self._clear_sent_outboxes(message.partition)

    async def handle_input(self, message: Any) -> None:
        """An input record as its producer partitioned it: to the re-keying stage."""
        await self._guarded(message, self._forward)

    async def _forward(self, message: Any) -> None:
        self.rekeyer.forward(message)

    async def _guarded(self, message: Any, handler: Any) -> None:
        structlog.contextvars.bind_contextvars(
            topic=message.topic, partition=message.partition, offset=message.offset
        )
        try:
            await handler(message)
        except Exception as exc:
            # A bug must neither stop the stream nor lose the record: it waits in the dead-letter topic.
            log.exception("record.failed", error=type(exc).__name__)
            await self.dead_letter(message, f"internal error while processing: {type(exc).__name__}")
        finally:
            structlog.contextvars.clear_contextvars()

    async def _route_alarm_stream(self, message: Any) -> None:
        if message.topic == self.topics.names.internal:
            await self._handle_internal(message)
            return
        event = self._decode(message, (InputTopic.ALARMS, InputTopic.HOLDS))
        if event is None:
            return
        assert isinstance(event, AlarmTriggered | MediaStored | HoldPlaced | HoldReleased)
        structlog.contextvars.bind_contextvars(alarm_id=event.alarm_id)
        previous = self.alarms.get(event.alarm_id)
        now = self.clock.now()
        allowed = self.deletions_allowed
        if isinstance(event, AlarmTriggered | MediaStored):
            ended = self.contract_ends.get(event.customer_id)
            outcome = on_alarm_event(
                previous, event, now, self.policy, contract_ended=ended, deletions_allowed=allowed
            )
        elif isinstance(event, HoldPlaced):
            outcome = on_hold_placed(previous, event, now, self.policy, deletions_allowed=allowed)
        else:
            outcome = on_hold_released(previous, event, now, self.policy, deletions_allowed=allowed)
        await self._apply(previous, outcome, message, event_type=event.type)

    def _decode(self, message: Any, expected: tuple[InputTopic, ...]) -> InputEvent | None:
        """A record of one of our re-keyed streams, decoded as the input topic it came from."""
        source = Source.of(message)
        kind = self.topics.input_kind(source.topic)
        if kind not in expected:
            self._dead_letter_soon(message, f"record on {message.topic} from an unexpected source")
            return None
        try:
            event = decode_event(
                message.value, message.key, kind, self.settings.media_buckets, self.signing_keys
            )
        except ForgedHold as exc:
            self._dead_letter_soon(message, exc.reason)
            record = audit_record(
                AuditType.HOLD_SIGNATURE_REJECTED,
                occurred_at=self.clock.now(),
                alarm_id=exc.alarm_id,
                customer_id=None,
                caused_by=str(source),
                hold_id=exc.hold_id,
                details={"reason": exc.reason},
            )
            self.audit_chain.publish(self.alarms.partition_of(exc.alarm_id), exc.alarm_id, record)
            return None
        except InvalidEvent as exc:
            self._dead_letter_soon(message, exc.reason)
            return None
        self.metrics.events.labels(source.topic, event.type).inc()
        expected_partition = self.alarms.partition_of(message.key.decode("utf-8"))
        if message.partition != expected_partition:
            # Only the re-keying stage writes these topics, by the service's partitioner.
            self._dead_letter_soon(
                message,
                f"record is on partition {message.partition} of {message.topic} but its key belongs on "
                f"partition {expected_partition}: only the service may write that topic",
            )
            return None
        return event

    async def _handle_internal(self, message: Any) -> None:
        try:
            command = INTERNAL_MESSAGE.validate_json(message.value)
        except ValidationError as exc:
            await self.dead_letter(message, f"invalid internal message: {exc.error_count()} error(s)")
            return
        self.metrics.events.labels(message.topic, command.type).inc()
        await self._internal_handlers[type(command)](command, message, self.clock.now())

    def _handlers_by_message(self) -> dict[type[Any], InternalHandler]:
        """What each kind of message to ourselves does (handlers/commands.py lists them)."""
        return {
            DeadlinesReached: self._on_deadlines_reached,
            ObjectsDeleted: self._on_objects_deleted,
            ContractEndBroadcast: self._on_contract_end_broadcast,
            ErasuresReached: self._on_erasures_reached,
            ContractEndsExpired: self._on_contract_ends_expired,
            SubjectKeysDue: self._on_subject_keys_due,
            MediaDisclosed: self._on_media_disclosed,
            CustomerRequestBroadcast: self._on_customer_request_broadcast,
            SweepRequested: self._on_sweep_requested,
            SweepFindings: self._on_sweep_report,
            SweepCompleted: self._on_sweep_report,
        }

    async def _on_deadlines_reached(self, command: DeadlinesReached, message: Any, now: datetime) -> None:
        if self.backlog_gate is not None and not self.backlog_gate.open:
            self.backlog_gate.defer(message.partition, command.alarm_ids)
            return
        for alarm_id in command.alarm_ids:
            previous = self.alarms.get(alarm_id)
            outcome = on_time_passed(previous, now, command.event_id, self.policy)
            await self._apply(previous, outcome, message, event_type=command.type)

    async def _on_objects_deleted(self, command: ObjectsDeleted, message: Any, now: datetime) -> None:
        by_alarm: dict[str, list[tuple[str, str]]] = {}
        for item in command.objects:
            by_alarm.setdefault(item.alarm_id, []).append((item.bucket, item.key))
        for alarm_id, refs in by_alarm.items():
            previous = self.alarms.get(alarm_id)
            outcome = on_objects_deleted(
                previous,
                refs,
                command.deleted_at,
                command.event_id,
                self.policy,
                deletions_allowed=self.deletions_allowed,
            )
            await self._apply(previous, outcome, message, event_type=command.type)

    async def _on_erasures_reached(self, command: ErasuresReached, message: Any, now: datetime) -> None:
        self.erasures.on_reached(command, message.partition)

    async def _on_contract_ends_expired(
        self, command: ContractEndsExpired, message: Any, now: datetime
    ) -> None:
        self.contract_end_expiry.on_expired(command, message.partition)

    async def _on_media_disclosed(self, command: MediaDisclosed, message: Any, now: datetime) -> None:
        previous = self.alarms.get(command.alarm_id)
        outcome = on_media_disclosed(previous, command, now)
        if previous is None:  # an alarm forgotten meanwhile: the disclosure is recorded, nothing kept
            for record in outcome.audit:
                self.audit_chain.publish(message.partition, command.alarm_id, record)
            return
        await self._apply(previous, outcome, message, event_type=command.type)

    async def _on_subject_keys_due(self, command: SubjectKeysDue, message: Any, now: datetime) -> None:
        self.key_expiry.on_due(command, message.partition)

    async def _on_sweep_requested(self, command: SweepRequested, message: Any, now: datetime) -> None:
        if self.sweeper is None:
            log.warning("sweep.unavailable", sweep_id=command.event_id)
        else:
            self.sweeper.start(command.event_id, command.requested_by)

    async def _on_sweep_report(
        self, command: SweepFindings | SweepCompleted, message: Any, now: datetime
    ) -> None:
        records = (
            findings_audit(command, now)
            if isinstance(command, SweepFindings)
            else [completed_audit(command, now)]
        )
        for record in records:
            self.audit_chain.publish(message.partition, record.alarm_id or "sweep", record)

    async def _on_contract_end_broadcast(
        self, command: ContractEndBroadcast, message: Any, now: datetime
    ) -> None:
        self.contract_ends.record(command.customer_id, command.ended_at, command.event_id)
        known = self.contract_ends.get(command.customer_id)
        if known is not None:
            self.contract_end_expiry.track(command.customer_id, message.partition, known[0])
            if self.protector is not None:  # the customer's identifiers in the audit trail end at R6
                self.protector.contract_ended(message.partition, command.customer_id, known[0])
        if message.partition == 0:  # the customer-level record: once, by the owner of partition 0
            record = receive_contract_end(command.customer_id, command.ended_at, command.event_id, now)
            self.audit_chain.publish(0, command.customer_id, record)
        for alarm_id in self.customer_alarms.of(command.customer_id):
            if self.alarms.partition_of(alarm_id) != message.partition:
                continue  # another partition's copy of the broadcast deals with it
            previous = self.alarms.get(alarm_id)
            outcome = on_contract_ended(
                previous,
                command.ended_at,
                command.event_id,
                now,
                self.policy,
                deletions_allowed=self.deletions_allowed,
            )
            await self._apply(previous, outcome, message, event_type=command.type)

    # --- customer events: contract ends, call recordings, erasure confirmations (keyed by customer) --

    async def _on_customer_record(self, message: Any) -> None:
        event = self._decode(message, (InputTopic.CONTRACTS, InputTopic.CONFIRMATIONS, InputTopic.REQUESTS))
        if event is None:
            return
        structlog.contextvars.bind_contextvars(event_type=event.type)
        if isinstance(event, AccessRequested | ErasureRequested | RestrictionRequested):
            await self._on_customer_request(event, message.partition)
            return
        assert isinstance(event, ContractEnded | CallRecorded | ErasureCompleted)
        self.erasures.on_customer_event(event, message.partition)
        if isinstance(event, ContractEnded):
            self._broadcast_contract_end(event)

    async def _on_customer_request(self, event: CustomerRequest, partition: int) -> None:
        if self.customer_requests is None:
            raise RuntimeError("customer requests are not wired (no read model)")
        await self.customer_requests.answer(event, partition)
        if isinstance(event, AccessRequested):
            return
        broadcast = CustomerRequestBroadcast(
            event_id=event.event_id,
            kind="erasure" if isinstance(event, ErasureRequested) else "restriction",
            customer_id=event.customer_id,
            requested_at=event.requested_at,
        ).model_dump_json()
        for target in range(self.alarms.partitions):
            self.topics.internal.send_soon(
                key=f"request-{event.customer_id}".encode(), value=broadcast.encode(), partition=target
            )

    async def _on_customer_request_broadcast(
        self, command: CustomerRequestBroadcast, message: Any, now: datetime
    ) -> None:
        apply = on_erasure_requested if command.kind == "erasure" else on_restriction_requested
        for alarm_id in self.customer_alarms.of(command.customer_id):
            if self.alarms.partition_of(alarm_id) != message.partition:
                continue
            previous = self.alarms.get(alarm_id)
            outcome = apply(
                previous,
                command.requested_at,
                command.event_id,
                now,
                self.policy,
                deletions_allowed=self.deletions_allowed,
            )
            await self._apply(previous, outcome, message, event_type=command.type)
        if command.kind == "erasure" and self.protector is not None:
            self._erase_customer_key(command.customer_id, message.partition, now)

    def _erase_customer_key(self, customer_id: str, partition: int, now: datetime) -> None:
        """Art. 17: the customer's identifiers in this partition's audit records end (see
        customer_fields_end_after_erasure). The request itself stays findable by its request id."""
        limits = []
        for alarm_id in self.customer_alarms.of(customer_id):
            state = self.alarms.get(alarm_id) if self.alarms.partition_of(alarm_id) == partition else None
            limit = hold_limit(state, self.policy) if state is not None and state.active_holds else None
            if limit is not None:
                limits.append(limit)
        ends = customer_fields_end_after_erasure(now, self.settings.erasure_key_grace, limits)
        assert self.protector is not None
        self.protector.end_customer_key(partition, customer_id, ends, "Art17")

    def _broadcast_contract_end(self, event: ContractEnded) -> None:
        broadcast = ContractEndBroadcast(
            event_id=event.event_id, customer_id=event.customer_id, ended_at=event.ended_at
        ).model_dump_json()
        for partition in range(self.alarms.partitions):
            self.topics.internal.send_soon(
                key=f"contract-{event.customer_id}".encode(), value=broadcast.encode(), partition=partition
            )
        log.info("contract.end_received", partitions=self.alarms.partitions)

    @property
    def deletions_allowed(self) -> bool:
        """Whether an event may start a deletion now: not while the backlog gate is closed, since a
        hold that reached Kafka earlier may still be on its way (streams/worker/backlog_gate.py). What is due
        meanwhile stays pending; its deadline goes to the scheduler, and the gate holds that back."""
        return self.backlog_gate is None or self.backlog_gate.open

    # --- carrying out an outcome --------------------------------------------------------------------

    async def _apply(
        self, previous: AlarmState | None, outcome: Outcome | None, message: Any, *, event_type: str
    ) -> None:
        if outcome is None:
            return
        if outcome.rejection is not None:
            await self.dead_letter(message, outcome.rejection)
            return
        state = outcome.state
        partition = message.partition
        if outcome.forget and not outcome.audit and not self.outbox.unsent(state.alarm_id):
            self._forget(state.alarm_id, partition)
            return
        if state is not previous:
            self.alarms.put(state, self.outbox.keep(state.alarm_id, outcome.audit))
        for record in outcome.audit:
            self._publish_kept(partition, state.alarm_id, record)
            if record.type is AuditType.HOLD_ACCEPTED and self.protector is not None and state.customer_id:
                limit = hold_limit(state, self.policy)
                if limit is not None:  # an erasure request's end of their fields waits for it
                    self.protector.hold_accepted(partition, state.customer_id, limit)
            if record.type is AuditType.DELETED and record.deadline is not None:
                lateness = (record.occurred_at - record.deadline).total_seconds()
                for _ in record.objects:
                    self.metrics.lateness.observe(lateness)
        if outcome.delete:
            lift = [m.ref for m in outcome.delete if m.legal_hold]
            plain = [m.ref for m in outcome.delete if not m.legal_hold]
            self.deleter.submit(partition, state.alarm_id, plain)
            self.deleter.submit(partition, state.alarm_id, lift, lift_legal_hold=True)
        self.legal_holds.want([m.ref for m in outcome.legal_hold_on], on=True)
        self.legal_holds.want([m.ref for m in outcome.legal_hold_off], on=False)
        check = next_check_at(state, self.policy)
        if outcome.forget:
            # What this decision publishes travels in the state until acknowledged: forgotten after.
            check = self.clock.now() + FORGET_RETRY
        self.scheduler.track(state.alarm_id, partition, check)
        if state.customer_id is not None:
            if previous is None or previous.customer_id != state.customer_id:  # once: it is on disk
                self.customer_alarms.add(state.customer_id, state.alarm_id)
        elif previous is not None and previous.customer_id is not None:
            self.customer_alarms.discard(previous.customer_id, state.alarm_id)  # its record ended
        if state is not previous or outcome.audit:
            # The canonical line: one per decision, never personal data.
            log.info(
                "alarm.decision",
                alarm_id=state.alarm_id,
                event_type=event_type,
                media=len(state.media),
                pending=len(state.pending),
                deleting=len(outcome.delete),
                active_holds=len(state.active_holds),
                audit=[r.type.value for r in outcome.audit],
                deadline=state.deadline.isoformat() if state.deadline else None,
                rule=state.deadline_rule.value if state.deadline_rule else None,
            )

    def _forget(self, alarm_id: str, partition: int) -> None:
        self.alarms.forget(alarm_id)
        self.scheduler.track(alarm_id, partition, None)
        log.info("alarm.forgotten", alarm_id=alarm_id)

    def _publish_kept(self, partition: int, alarm_id: str, record: AuditRecord) -> None:
        """An audit record that is also in the alarm's outbox (or was given again on redelivery)."""
        audit_id = record.audit_id
        self.audit_chain.publish(
            partition, alarm_id, record, on_sent=lambda: self.outbox.sent(alarm_id, audit_id)
        )

    def _clear_sent_outboxes(self, partition: int) -> None:
        """Write once more, without their outbox, the alarms and customers whose outbox has all been
        acknowledged. Here, after a record of the partition was processed: a table write needs one (it
        goes to that record's partition)."""
        self.outbox.rewrite_cleared(partition, self.alarms)
        self.erasures.outbox.rewrite_cleared(partition, self.erasures.customers)

    async def dead_letter(self, message: Any, reason: str) -> None:
        self._dead_letter_soon(message, reason)

    def _dead_letter_soon(self, message: Any, reason: str) -> None:
        """The record as its producer wrote it, and where: the input topic, also after re-keying.
        Buffered by faust and flushed before the offset is committed."""
        source = Source.of(message)
        log.warning("record.dead_lettered", reason=reason, source_topic=source.topic)
        self.metrics.deadlettered.labels(source.topic).inc()
        self.topics.deadletter.send_soon(
            # Not the record's own key (a customer id, say): where it was, which says nothing of anyone.
            key=source_id(source.topic, source.partition, source.offset).encode("utf-8"),
            value=deadletter_value(
                reason=reason,
                topic=source.topic,
                partition=source.partition,
                offset=source.offset,
                key=message.key,
                value=message.value,
                timestamp=source.timestamp,
                now=self.clock.now(),
                seal=self.deadletter_keys.seal,
            ),
        )

    # --- messages to ourselves ----------------------------------------------------------------------

    async def notify_deadlines(self, partition: int, alarm_ids: list[str], checked_at: datetime) -> None:
        command = DeadlinesReached(
            event_id=str(uuid.uuid4()), alarm_ids=tuple(alarm_ids), checked_at=checked_at
        )
        await self._send_internal(partition, command.model_dump_json().encode("utf-8"))

    async def confirm_deletions(
        self, partition: int, objects: list[DeletedObject], deleted_at: datetime
    ) -> None:
        command = ObjectsDeleted(event_id=str(uuid.uuid4()), objects=tuple(objects), deleted_at=deleted_at)
        await self._send_internal(partition, command.model_dump_json().encode("utf-8"))

    async def request_sweep(self, requested_by: str) -> str:
        """Ask the owner of partition 0 to sweep the media buckets; returns the sweep's id."""
        command = SweepRequested(event_id=str(uuid.uuid4()), requested_by=requested_by)
        await self._send_internal(0, command.model_dump_json().encode("utf-8"))
        return command.event_id

    async def publish_for_alarm(self, alarm_id: str, value: bytes) -> None:
        """For the API: a message to the alarm's partition, acknowledged before returning."""
        await (await self._send_internal(self.alarms.partition_of(alarm_id), value))

    async def send_to_partition_0(self, value: bytes) -> None:
        await self._send_internal(0, value)

    async def publish_customer_request(self, customer_id: str, value: bytes) -> None:
        """For the API: customer requests taken by an operator, acknowledged before returning."""
        pending = await self.topics.requests_out.send(key=customer_id.encode("utf-8"), value=value)
        await pending

    async def record_access(self, key: bytes, value: bytes) -> None:
        """For the API: a read of personal data, acknowledged before the data is answered."""
        pending = await self.topics.access_log.send(key=key, value=value)
        await pending

    async def publish_hold_event(self, alarm_id: str, value: bytes) -> None:
        """For the API: one more producer of the police-holds contract, acknowledged before returning."""
        pending = await self.topics.holds_out.send(key=alarm_id.encode("utf-8"), value=value)
        await pending

    def degraded(self) -> list[str]:
        """Why the worker is not fully doing its job right now (it keeps trying)."""
        reasons = []
        failure = self.deleter.last_failure
        if (
            failure is not None
            and self.deleter.outstanding
            and time.monotonic() - failure[0] < DEGRADED_WINDOW
        ):
            # The reason is an error code (streams/s3/object_store.failure_reason), never a message.
            reasons.append(
                f"object store failing: {self.deleter.outstanding} deletion(s) waiting to be retried "
                f"(last error: {failure[1][:60]})"
            )
        gate = self.backlog_gate
        if gate is not None and gate.closed_for() > PATIENCE_SECONDS:
            reasons.append(f"deadlines held back for {gate.closed_for():.0f} s: {gate.status}"[:300])
        return reasons

    def health(self) -> dict[str, object]:
        return {
            "status": "ready" if self.ready else "starting",
            "partitions": self.partitions,
            "deadlines_tracked": len(self.scheduler.index),
            "deletions_outstanding": self.deleter.outstanding,
            "deletion_failures_total": self.deleter.failures_total,
            "legal_holds_outstanding": self.legal_holds.outstanding,
            "deadlines": self.backlog_gate.status if self.backlog_gate is not None else "acting",
        }

    async def _send_internal(self, partition: int, value: bytes) -> Any:
        """Buffered; awaiting what it returns waits for the broker's acknowledgement."""
        return await self.topics.internal.send(
            key=f"partition-{partition}".encode(), value=value, partition=partition
        )

    # --- after a rebalance --------------------------------------------------------------------------

    def act_on_deferred(self, deferred: dict[int, set[str]]) -> None:
        """The deadlines that came while the holds' backlog was applied: check them now."""
        now = self.clock.now()
        for partition, alarm_ids in deferred.items():
            for alarm_id in alarm_ids:
                self.scheduler.track(alarm_id, partition, now)

    def forget_partitions(self, partitions: Collection[int]) -> None:
        if self.backlog_gate is not None:
            self.backlog_gate.close()
        self.scheduler.index.drop_partitions(partitions)
        self.erasures.forget_partitions(partitions)
        self.contract_end_expiry.forget_partitions(partitions)
        self.key_expiry.forget_partitions(partitions)
        self.outbox.forget_partitions(partitions)
        self.partitions = [p for p in self.partitions if p not in set(partitions)]

    def rebuild(self, partitions: Collection[int]) -> None:
        """Re-derive the schedule, the customer index and unfinished work for the partitions this
        worker now owns."""
        self.scheduler.index.clear()
        self.customer_alarms.clear()
        tracked = resumed = republished = 0
        checks: list[tuple[str, int, datetime]] = []  # written in batches: millions of them
        customers_of: list[tuple[str, str]] = []
        for state, outbox in self.alarms.stored_in(partitions):
            alarm_id = state.alarm_id
            partition = self.alarms.partition_of(state.alarm_id)
            if outbox:
                # Perhaps never sent before the last owner stopped: again, with the same audit ids.
                self.outbox.keep(alarm_id, outbox)
                for record in outbox:
                    self._publish_kept(partition, alarm_id, record)
                republished += len(outbox)
            check = next_check_at(state, self.policy)
            if check is not None:
                checks.append((alarm_id, partition, check))
                tracked += 1
            if state.customer_id is not None:
                customers_of.append((state.customer_id, alarm_id))
            if len(checks) >= REBUILD_BATCH or len(customers_of) >= REBUILD_BATCH:
                self.scheduler.track_many(checks)
                self.customer_alarms.add_many(customers_of)
                checks, customers_of = [], []
            if state.deleting:
                # The decision to delete was taken and recorded before the restart; finish it.
                deleting = state.deleting
                self.deleter.submit(partition, state.alarm_id, [m.ref for m in deleting if not m.legal_hold])
                self.deleter.submit(
                    partition, state.alarm_id, [m.ref for m in deleting if m.legal_hold], lift_legal_hold=True
                )
                resumed += len(deleting)
            held = [m.ref for m in state.pending if m.legal_hold]
            if held:
                self.legal_holds.want(held, on=True)  # cheap to assert again; a lost one would matter
        self.scheduler.track_many(checks)
        self.customer_alarms.add_many(customers_of)
        customers, customer_items_resent = self.erasures.rebuild(partitions)
        contract_ends = self.contract_end_expiry.rebuild(partitions)
        keys = self.key_expiry.rebuild(partitions)
        self.ready = True
        self.partitions = sorted(partitions)
        log.info(
            "schedule.rebuilt",
            partitions=sorted(partitions),
            customers_tracked=customers,
            contract_ends_tracked=contract_ends,
            subject_keys_tracked=keys,
            alarms_tracked=tracked,
            deletions_resumed=resumed,
            audit_records_republished=republished,
            customer_items_resent=customer_items_resent,
        )
