"""The shell around the rules: reads a record, asks `handlers` what to do, and does it.

Doing it means: write the alarm's new state to the table, publish the audit records, hand due objects
to the deleter, and tell the scheduler the alarm's next deadline. Every record ends either applied or
in the dead-letter topic; none is skipped.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

import structlog
from pydantic import ValidationError

from config.settings import Settings
from handlers.commands import INTERNAL_MESSAGE, DeadlinesReached, DeletedObject, ObjectsDeleted
from handlers.decoding import InputTopic, InvalidEvent, decode_event
from handlers.events import AlarmTriggered, InputEvent, MediaStored
from handlers.policy import (
    Outcome,
    RetentionPolicy,
    on_alarm_event,
    on_deadline_reached,
    on_objects_deleted,
)
from handlers.state import AlarmState
from streams.alarm_table import AlarmTable
from streams.clock import Clock
from streams.deadletter import deadletter_value
from streams.deleter import Deleter
from streams.object_store import ObjectStore
from streams.scheduler import DeadlineIndex, Scheduler
from streams.topics import Topics

log = structlog.get_logger("streams.service")


def policy_from(settings: Settings) -> RetentionPolicy:
    return RetentionPolicy(
        media_retention=settings.media_retention,
        hold_retention=settings.hold_retention,
        hold_expiry_warning=settings.hold_expiry_warning,
        max_clock_skew=settings.max_clock_skew,
    )


class RetentionService:
    def __init__(
        self,
        *,
        settings: Settings,
        clock: Clock,
        store: ObjectStore,
        alarms: AlarmTable,
        topics: Topics,
    ) -> None:
        self.settings = settings
        self.policy = policy_from(settings)
        self.clock = clock
        self.alarms = alarms
        self.topics = topics
        self.scheduler = Scheduler(DeadlineIndex(), clock, self.notify_deadlines)
        self.deleter = Deleter(
            store,
            clock,
            self.confirm_deletions,
            settings.media_buckets,
            batch_size=settings.delete_batch_size,
            concurrency=max(1, settings.s3_max_workers // 4),
        )
        self.ready = False  # True once the table has been recovered after the first assignment

    # --- records from the alarm stream (alarm events, police holds, our internal messages) ---------

    async def handle_alarm_stream(self, message: Any) -> None:
        structlog.contextvars.bind_contextvars(
            topic=message.topic, partition=message.partition, offset=message.offset
        )
        try:
            if message.topic == self.topics.names.internal:
                await self._handle_internal(message)
            else:
                await self._handle_input(message)
        except Exception as exc:
            # A bug must neither stop the stream nor lose the record: it waits in the dead-letter topic.
            log.exception("record.failed", error=type(exc).__name__)
            await self.dead_letter(message, f"internal error while processing: {type(exc).__name__}")
        finally:
            structlog.contextvars.clear_contextvars()

    async def _handle_input(self, message: Any) -> None:
        kind = self.topics.input_kind(message.topic)
        if kind is None:
            raise RuntimeError(f"no handler for topic {message.topic}")
        event = self._decode(message, kind)
        if event is None:
            return
        if isinstance(event, AlarmTriggered | MediaStored):
            structlog.contextvars.bind_contextvars(alarm_id=event.alarm_id)
            previous = self.alarms.get(event.alarm_id)
            outcome = on_alarm_event(previous, event, self.clock.now(), self.policy)
            await self._apply(previous, outcome, message, event_type=event.type)
        else:
            # Holds and contract ends are validated from version 1 of the contract on; acting on them
            # is the next step of the product (issue 3).
            log.info("event.validated_not_acted_on", event_type=event.type)

    def _decode(self, message: Any, kind: InputTopic) -> InputEvent | None:
        try:
            event = decode_event(message.value, message.key, kind, self.settings.media_buckets)
        except InvalidEvent as exc:
            self._dead_letter_soon(message, exc.reason)
            return None
        expected = self.alarms.partition_of(message.key.decode("utf-8"))
        if message.partition != expected:
            self._dead_letter_soon(
                message,
                f"record is on partition {message.partition} but its key belongs on partition "
                f"{expected} under Kafka's default (murmur2) partitioner; produce with that partitioner",
            )
            return None
        return event

    async def _handle_internal(self, message: Any) -> None:
        try:
            command = INTERNAL_MESSAGE.validate_json(message.value)
        except ValidationError as exc:
            await self.dead_letter(message, f"invalid internal message: {exc.error_count()} error(s)")
            return
        if isinstance(command, DeadlinesReached):
            await self._on_deadlines_reached(command, message)
        else:
            await self._on_objects_deleted(command, message)

    async def _on_deadlines_reached(self, command: DeadlinesReached, message: Any) -> None:
        now = self.clock.now()
        for alarm_id in command.alarm_ids:
            previous = self.alarms.get(alarm_id)
            outcome = on_deadline_reached(previous, now)
            if outcome is not None and previous is not None:
                await self._apply(previous, outcome, message, event_type=command.type)

    async def _on_objects_deleted(self, command: ObjectsDeleted, message: Any) -> None:
        by_alarm: dict[str, list[tuple[str, str]]] = {}
        for item in command.objects:
            by_alarm.setdefault(item.alarm_id, []).append((item.bucket, item.key))
        for alarm_id, refs in by_alarm.items():
            previous = self.alarms.get(alarm_id)
            outcome = on_objects_deleted(previous, refs, command.deleted_at, command.event_id, self.policy)
            if outcome is not None and previous is not None:
                await self._apply(previous, outcome, message, event_type=command.type)

    # --- carrying out an outcome --------------------------------------------------------------------

    async def _apply(
        self, previous: AlarmState | None, outcome: Outcome, message: Any, *, event_type: str
    ) -> None:
        state = outcome.state
        if outcome.rejection is not None:
            await self.dead_letter(message, outcome.rejection)
            return
        if state is not previous:
            self.alarms.put(state)
        for record in outcome.audit:
            await self.topics.audit.send(key=state.alarm_id.encode("utf-8"), value=record.to_json())
        if outcome.delete:
            self.deleter.submit(message.partition, state.alarm_id, (m.ref for m in outcome.delete))
        self.scheduler.track(state.alarm_id, message.partition, state.deadline)
        if state is not previous:
            # The canonical line: one per decision, never personal data.
            log.info(
                "alarm.decision",
                alarm_id=state.alarm_id,
                event_type=event_type,
                media=len(state.media),
                pending=len(state.pending),
                deleting=len(outcome.delete),
                audit=[r.type.value for r in outcome.audit],
                deadline=state.deadline.isoformat() if state.deadline else None,
                rule=state.deadline_rule.value if state.deadline_rule else None,
            )

    async def dead_letter(self, message: Any, reason: str) -> None:
        log.warning("record.dead_lettered", reason=reason)
        await self.topics.deadletter.send(
            key=message.key,
            value=deadletter_value(
                reason=reason,
                topic=message.topic,
                partition=message.partition,
                offset=message.offset,
                key=message.key,
                value=message.value,
                timestamp=message.timestamp,
                now=self.clock.now(),
            ),
        )

    def _dead_letter_soon(self, message: Any, reason: str) -> None:
        # Decoding is synchronous; the send is buffered by faust and flushed before the offset commits.
        log.warning("record.dead_lettered", reason=reason)
        self.topics.deadletter.send_soon(
            key=message.key,
            value=deadletter_value(
                reason=reason,
                topic=message.topic,
                partition=message.partition,
                offset=message.offset,
                key=message.key,
                value=message.value,
                timestamp=message.timestamp,
                now=self.clock.now(),
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

    async def _send_internal(self, partition: int, value: bytes) -> None:
        await self.topics.internal.send(
            key=f"partition-{partition}".encode(), value=value, partition=partition
        )

    # --- after a rebalance --------------------------------------------------------------------------

    def forget_partitions(self, partitions: Collection[int]) -> None:
        self.scheduler.index.drop_partitions(partitions)

    def rebuild(self, partitions: Collection[int]) -> None:
        """Re-derive the schedule from the table for the partitions this worker now owns."""
        index = self.scheduler.index
        index.clear()
        tracked = resumed = 0
        for state in self.alarms.states(self.alarms.alarm_ids_in(partitions)):
            partition = self.alarms.partition_of(state.alarm_id)
            if state.deadline is not None:
                self.scheduler.track(state.alarm_id, partition, state.deadline)
                tracked += 1
            if state.deleting:
                # The decision to delete was taken and recorded before the restart; finish it.
                self.deleter.submit(partition, state.alarm_id, (m.ref for m in state.deleting))
                resumed += len(state.deleting)
        self.ready = True
        log.info(
            "schedule.rebuilt",
            partitions=sorted(partitions),
            alarms_tracked=tracked,
            deletions_resumed=resumed,
        )
