"""No audit record lost in a crash: an alarm's audit records travel in its state until the audit topic
has them.

Without this, a worker that dies after the alarm's new state reached the changelog but before its audit
records reached the audit topic loses those records for good: the event is delivered again (its offset
was not committed), but the handler finds the state already applied and decides nothing new.

So every state write carries, in the same changelog record, the audit records not yet acknowledged
by the audit topic (the outbox). When the producer acknowledges the last of an alarm's records, the
alarm is cleared by its next write, or by a write of its own the next time the worker processes a
record of that partition (table writes go to the partition of the record being processed). A worker
that takes the partition over publishes every outbox it recovers, again: the audit topic may then
hold a record twice, both with the same `audit_id`, and readers count audit ids, not records.
"""

from __future__ import annotations

from collections.abc import Collection

from handlers.audit import AuditRecord
from streams.partitioning import partition_for


class AuditOutbox:
    def __init__(self, partitions: int) -> None:
        self._partitions = partitions
        self._unsent: dict[str, dict[str, AuditRecord]] = {}  # alarm id -> audit id -> record
        self._to_clear: dict[int, set[str]] = {}  # partition -> alarms whose stored outbox is all sent

    def keep(self, alarm_id: str, records: Collection[AuditRecord]) -> tuple[AuditRecord, ...]:
        """Add the records of a decision; the alarm's unsent records, to write with its state."""
        unsent = self._unsent.setdefault(alarm_id, {})
        for record in records:
            unsent[record.audit_id] = record
        self._to_clear.get(self._partition(alarm_id), set()).discard(alarm_id)  # this write clears it
        return tuple(unsent.values())

    def sent(self, alarm_id: str, audit_id: str) -> None:
        """The audit topic acknowledged the record."""
        unsent = self._unsent.get(alarm_id)
        if unsent is None or unsent.pop(audit_id, None) is None:
            return
        if not unsent:
            del self._unsent[alarm_id]
            self._to_clear.setdefault(self._partition(alarm_id), set()).add(alarm_id)

    def unsent(self, alarm_id: str) -> tuple[AuditRecord, ...]:
        return tuple(self._unsent.get(alarm_id, {}).values())

    def take_cleared(self, partition: int) -> list[str]:
        """Alarms of the partition whose stored outbox is now all sent: to write once more, without it."""
        return sorted(self._to_clear.pop(partition, set()))

    def forget_partitions(self, partitions: Collection[int]) -> None:
        """Partitions given away: their new owner publishes what their states still hold."""
        gone = set(partitions)
        for alarm_id in [a for a in self._unsent if self._partition(a) in gone]:
            del self._unsent[alarm_id]
        for partition in gone:
            self._to_clear.pop(partition, None)

    @property
    def unsent_records(self) -> int:
        return sum(len(records) for records in self._unsent.values())

    def _partition(self, alarm_id: str) -> int:
        return partition_for(alarm_id, self._partitions)
