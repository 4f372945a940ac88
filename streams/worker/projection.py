"""A read model of every alarm, built by each worker from the topics themselves.

The alarms table's changelog holds every alarm's latest state and the audit topic every decision; a
consumer outside the consumer group reads all partitions of both (and of the dead-letter topic). So
every worker answers API calls the same way whatever partitions it owns, and per-worker metrics are
the same figures restricted to the partitions it owns (they add up across workers).
"""

from __future__ import annotations

import asyncio
import json
import zlib
from collections import OrderedDict, deque
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer
from sortedcontainers import SortedList

from handlers.alarm_summary import AlarmSummary, summarise
from handlers.erasure import CustomerRecord, Erasure, decode_customer
from handlers.state import AlarmState, Hold, decode_state
from streams.kafka.partitioning import partition_for
from streams.kafka.topic_ends import assign_every_partition, at_end
from streams.protection.sealing import reveal
from streams.protection.subject_keys import SubjectKey

log = structlog.get_logger(__name__)
AUDIT_RECORDS_PER_ALARM = 500
RECENT_DEADLETTERS = 50
SWEEP_AUDIT = "sweep"
RECENT_ANSWERS = 1000  # answers to customer requests kept for the API; all are on their topic


@dataclass(frozen=True)
class ActiveHold:
    alarm_id: str
    partition: int
    hold: Hold
    expires_at: datetime


class _KeysBeforeTheirEnd(Mapping[str, bytes]):
    """kid -> key, of the keys whose end has not come: the owner of a partition may be down when a key
    ends, and its destruction reaches this copy only then; what the schedule ended stays closed."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[bytes, datetime]] = {}

    def __getitem__(self, kid: str) -> bytes:
        key, ends_at = self.entries[kid]
        if ends_at <= datetime.now(UTC):
            raise KeyError(kid)
        return key

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)


class Projection:
    def __init__(self, partitions: int, hold_retention: timedelta) -> None:
        self.partitions = partitions
        self._hold_retention = hold_retention
        self._raw: dict[str, bytes] = {}
        self._summaries: dict[str, AlarmSummary] = {}
        self._pending_by_deadline: SortedList = SortedList()  # (deadline, alarm_id)
        self._deleting_by_due: SortedList = SortedList()  # (oldest due_at, alarm_id)
        self._holds: dict[str, str] = {}  # hold_id -> alarm_id, every hold ever seen
        self._held: set[str] = set()  # alarms with an active hold
        self._customer_alarms: dict[str, set[str]] = {}
        # alarm_id (or customer:<id>, or "sweep") -> its last audit records. Lists rather than deques
        # (an empty deque alone is 600 bytes), and the state and records compressed: the read model
        # holds every alarm, so its bytes per alarm decide the worker's memory (see bench scale).
        self._audit: dict[str, list[bytes]] = {}
        # kid -> key, from the subject-keys changelog: what the audit records' personal fields open with
        # (a destroyed key leaves this at once; its fields are then shown erased).
        self._keys = _KeysBeforeTheirEnd()
        self._kid_of: dict[str, str] = {}  # table name -> its live kid (a destroyed key names none)
        self.deadletters: deque[dict[str, Any]] = deque(maxlen=RECENT_DEADLETTERS)
        self.caught_up = False
        self.last_sweep: dict[str, Any] | None = None  # the latest sweep.completed audit record
        self._answers: OrderedDict[str, bytes] = OrderedDict()  # request_id -> its answer, latest last
        self._customers: dict[str, bytes] = {}  # customer_id -> its erasure record, compressed
        self._erasure_counts: dict[str, tuple[int, int, int]] = {}  # -> (partition, open, unconfirmed)

    # --- feeding ------------------------------------------------------------------------------------

    def apply_state(self, alarm_id: str, raw: bytes | None) -> None:
        self._forget(alarm_id)
        if raw is None:
            return
        state = decode_state(raw)
        summary = summarise(state, partition_for(alarm_id, self.partitions))
        self._raw[alarm_id] = zlib.compress(raw, 1)
        self._summaries[alarm_id] = summary
        if summary.deadline is not None:
            self._pending_by_deadline.add((summary.deadline, alarm_id))
        if summary.oldest_deleting_due is not None:
            self._deleting_by_due.add((summary.oldest_deleting_due, alarm_id))
        for hold in state.holds:
            self._holds[hold.hold_id] = alarm_id
        if summary.active_holds:
            self._held.add(alarm_id)
        if state.customer_id is not None:
            self._customer_alarms.setdefault(state.customer_id, set()).add(alarm_id)

    def apply_answer(self, raw: bytes) -> None:
        request_id = json.loads(raw)["request_id"]
        self._answers[request_id] = zlib.compress(raw, 1)
        self._answers.move_to_end(request_id)
        while len(self._answers) > RECENT_ANSWERS:
            self._answers.popitem(last=False)

    def answer(self, request_id: str) -> dict[str, Any] | None:
        raw = self._answers.get(request_id)
        return json.loads(zlib.decompress(raw)) if raw is not None else None

    def apply_customer(self, customer_id: str, raw: bytes | None) -> None:
        if raw is None:
            self._customers.pop(customer_id, None)
            self._erasure_counts.pop(customer_id, None)
            return
        record = decode_customer(raw)
        self._customers[customer_id] = zlib.compress(raw, 1)
        open_ = sum(1 for e in record.erasures if e.open)
        partition = partition_for(customer_id, self.partitions)
        self._erasure_counts[customer_id] = (partition, open_, len(record.unconfirmed))

    def _forget(self, alarm_id: str) -> None:
        old = self._summaries.pop(alarm_id, None)
        if old is None:
            return
        self._raw.pop(alarm_id, None)
        self._held.discard(alarm_id)
        if old.deadline is not None:
            self._pending_by_deadline.discard((old.deadline, alarm_id))
        if old.oldest_deleting_due is not None:
            self._deleting_by_due.discard((old.oldest_deleting_due, alarm_id))

    def apply_key(self, name: str, raw: bytes | None) -> None:
        old = self._kid_of.pop(name, None)
        if old is not None:
            self._keys.entries.pop(old, None)
        if not raw or raw == b"{}":
            return  # forgotten
        key = SubjectKey.from_json(raw)
        if key.kid is not None and key.key is not None:
            self._kid_of[name] = key.kid
            self._keys.entries[key.kid] = (key.key, key.ends_at)

    def apply_audit(self, raw: bytes) -> None:
        record = json.loads(raw)
        if record.get("alarm_id"):
            owner = record["alarm_id"]
        elif record.get("customer_id") or "customer" in record.get("encrypted", {}):
            return  # a customer's own records: nobody reads them from here (the archive has them)
        else:
            owner = SWEEP_AUDIT  # the reconciliation sweep's findings about objects of no known alarm
        if record.get("type") == "sweep.completed":
            self.last_sweep = record
        records = self._audit.setdefault(owner, [])
        records.append(zlib.compress(raw, 1))
        if len(records) > AUDIT_RECORDS_PER_ALARM:
            del records[0]

    def apply_deadletter(self, raw: bytes) -> None:
        letter = json.loads(raw)
        # Only where it came from and why: the original bytes may carry personal data.
        self.deadletters.appendleft(
            {
                "reason": letter.get("reason"),
                "source": letter.get("source"),
                "at": letter.get("dead_lettered_at"),
            }
        )

    # --- reading ------------------------------------------------------------------------------------

    def alarm(self, alarm_id: str) -> AlarmState | None:
        raw = self._raw.get(alarm_id)
        return decode_state(zlib.decompress(raw)) if raw is not None else None

    def customer_record(self, customer_id: str) -> CustomerRecord | None:
        raw = self._customers.get(customer_id)
        return decode_customer(zlib.decompress(raw)) if raw is not None else None

    def unconfirmed_erasures(self) -> list[tuple[str, Erasure]]:
        found: list[tuple[str, Erasure]] = []
        for customer_id, (_, _, unconfirmed) in sorted(self._erasure_counts.items()):
            record = self.customer_record(customer_id) if unconfirmed else None
            if record is not None:
                found.extend((customer_id, e) for e in record.unconfirmed)
        return found

    def erasure_counts(self, partitions: Collection[int] | None = None) -> tuple[int, int]:
        """(open, unconfirmed) erasure commands, of the given partitions or all."""
        wanted = None if partitions is None else set(partitions)
        rows = [c for c in self._erasure_counts.values() if wanted is None or c[0] in wanted]
        return sum(r[1] for r in rows), sum(r[2] for r in rows)

    def alarm_ids(self) -> list[str]:
        return list(self._raw)

    def alarm_of_hold(self, hold_id: str) -> str | None:
        return self._holds.get(hold_id)

    def customer_alarms(self, customer_id: str) -> list[AlarmState]:
        states = (self.alarm(a) for a in sorted(self._customer_alarms.get(customer_id, ())))
        return [s for s in states if s is not None]

    def sweep_findings(self, sweep_id: str) -> list[dict[str, Any]]:
        records = (
            reveal(json.loads(zlib.decompress(raw)), self._keys) for raw in self._audit.get(SWEEP_AUDIT, ())
        )
        return [
            r
            for r in records
            if r.get("details", {}).get("sweep_id") == sweep_id and r["type"] != "sweep.completed"
        ]

    def audit_of(self, alarm_id: str) -> list[dict[str, Any]]:
        return [reveal(json.loads(zlib.decompress(raw)), self._keys) for raw in self._audit.get(alarm_id, ())]

    def active_holds(self, partitions: Collection[int] | None = None) -> list[ActiveHold]:
        found: list[ActiveHold] = []
        for alarm_id in self._held:
            summary = self._summaries[alarm_id]
            if partitions is None or summary.partition in partitions:
                state = self.alarm(alarm_id)
                if state is None or state.triggered_at is None:
                    continue  # waiting for its alarm: not keeping anything yet
                expires = state.triggered_at + self._hold_retention
                found.extend(
                    ActiveHold(alarm_id, summary.partition, h, expires) for h in summary.active_holds
                )
        return sorted(found, key=lambda h: (h.expires_at, h.alarm_id, h.hold.hold_id))

    def counts(
        self, now: datetime, grace: timedelta, partitions: Collection[int] | None = None
    ) -> dict[str, int]:
        """pending, deleting and overdue objects (past their deadline by more than `grace`)."""
        wanted = set(range(self.partitions)) if partitions is None else set(partitions)
        pending = deleting = deleted = 0
        for summary in self._summaries.values():
            if summary.partition in wanted:
                pending += summary.pending
                deleting += summary.deleting
                deleted += summary.deleted
        cutoff = (now - grace).timestamp()
        overdue = sum(
            self._summaries[a].pending for a in self._due_before(self._pending_by_deadline, cutoff, wanted)
        )
        overdue += sum(
            self._summaries[a].deleting for a in self._due_before(self._deleting_by_due, cutoff, wanted)
        )
        return {"pending": pending, "deleting": deleting, "deleted": deleted, "overdue": overdue}

    def _due_before(self, index: SortedList, cutoff: float, partitions: set[int]) -> Iterator[str]:
        for moment, alarm_id in index:
            if moment >= cutoff:
                return
            if self._summaries[alarm_id].partition in partitions:
                yield alarm_id

    def due_per_hour(self, now: datetime, hours: int = 168) -> list[dict[str, Any]]:
        """Objects falling due in each of the next `hours` hours (the first bucket includes overdue)."""
        start = now.replace(minute=0, second=0, microsecond=0)
        buckets = [0] * hours
        end = (start + timedelta(hours=hours)).timestamp()
        for moment, alarm_id in self._pending_by_deadline.irange(maximum=(end, "")):
            index = max(0, int((moment - start.timestamp()) // 3600))
            if index < hours:
                buckets[index] += self._summaries[alarm_id].pending
        return [
            {"hour": (start + timedelta(hours=i)).isoformat(), "objects": n} for i, n in enumerate(buckets)
        ]

    def upcoming(self, now: datetime, limit: int = 20) -> list[dict[str, Any]]:
        """The alarms whose pending media goes next."""
        rows = []
        for moment, alarm_id in self._pending_by_deadline[:limit]:
            summary = self._summaries[alarm_id]
            rows.append(
                {
                    "alarm_id": alarm_id,
                    "objects": summary.pending,
                    "deadline": datetime.fromtimestamp(moment, now.tzinfo).isoformat(),
                    "seconds_left": round(moment - now.timestamp(), 1),
                    "held": bool(summary.active_holds),
                }
            )
        return rows


class ProjectionFeed:
    """Reads the changelog, audit and dead-letter topics from the beginning, forever."""

    def __init__(
        self,
        projection: Projection,
        client_options: dict[str, Any],
        changelog: str,
        audit: str,
        deadletter: str,
        customers_changelog: str,
        request_outcomes: str,
        subject_keys: str | None = None,
    ) -> None:
        self._projection = projection
        self._client_options = client_options
        self._changelog, self._audit, self._deadletter = changelog, audit, deadletter
        self._customers = customers_changelog
        self._outcomes = request_outcomes
        self._keys = subject_keys

    async def run(self) -> None:
        while True:
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker went away: start over, the projection is idempotent
                log.warning("projection.restarting", reason=str(exc))
                await asyncio.sleep(2)

    async def _consume(self) -> None:
        consumer = AIOKafkaConsumer(enable_auto_commit=False, **self._client_options)
        await consumer.start()
        try:
            tps = await assign_every_partition(
                consumer,
                (self._changelog, self._audit, self._deadletter, self._customers, self._outcomes)
                + ((self._keys,) if self._keys else ()),
            )
            await consumer.seek_to_beginning(*tps)
            while True:
                batches = await consumer.getmany(timeout_ms=500, max_records=5000)
                for tp, records in batches.items():
                    self._feed(tp.topic, records)
                # Caught up when every position reached the end the latest fetch reported (never
                # ListOffsets: Tansu answers it short of the end, see streams/kafka/topic_ends.py).
                if not self._projection.caught_up and await at_end(consumer, tps):
                    self._projection.caught_up = True
                    log.info("projection.caught_up", alarms=len(self._projection._summaries))
        finally:
            await consumer.stop()

    def _feed(self, topic: str, records: Iterable[Any]) -> None:
        for record in records:
            try:
                if topic == self._changelog:
                    self._projection.apply_state(record.key.decode("utf-8"), record.value)
                elif topic == self._customers:
                    self._projection.apply_customer(record.key.decode("utf-8"), record.value)
                elif topic == self._outcomes:
                    self._projection.apply_answer(record.value)
                elif topic == self._keys:
                    self._projection.apply_key(record.key.decode("utf-8"), record.value)
                elif topic == self._audit:
                    self._projection.apply_audit(record.value)
                else:
                    self._projection.apply_deadletter(record.value)
            except Exception as exc:
                log.warning("projection.record_skipped", topic=topic, offset=record.offset, reason=str(exc))
