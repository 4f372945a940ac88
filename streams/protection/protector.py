"""Seals the personal fields of each audit record under its subjects' keys, as the record is published
(streams/audit/chain.py), and says when each key ends.

- A customer's key ends at R6 (customer identifiers: 12 months after the contract ended), or, while
  the contract runs, when the audit records it sealed have all gone: AUDIT_RETENTION after its last
  use (moved on at most once a day as it is used). An erasure request ends it ERASURE_KEY_GRACE on, or
  at the limit of a hold on the customer's evidence. CUSTOMER_KEY_LIFETIME replaces R6's 12 months.
- A hold's key ends S5 after its records began plus the hold limit (HOLD_DETAILS_LIFETIME).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from faust.streams import current_event

from handlers.customer_rights import AUDIT_FIELDS, ServiceRecords
from handlers.personal_fields import Subject
from streams.clock import Clock
from streams.protection.pseudonyms import Pseudonyms
from streams.protection.sealing import new_key, protect
from streams.protection.subject_keys import SubjectKey, SubjectKeys, table_key

NO_KEY = "none"  # the kid of a part sealed by nobody: it never opens (see `_key_of`)


@dataclass(frozen=True)
class KeyLifetimes:
    customer_after_contract_end: Callable[[datetime], datetime]  # R6, or CUSTOMER_KEY_LIFETIME
    hold_details: timedelta  # S5 plus the hold limit
    records: timedelta  # AUDIT_RETENTION: no record sealed by a key outlives this after it ended
    unattributed: timedelta = timedelta(days=30)  # objects of no known customer: DEADLETTER_RETENTION

    def customer_ends(self, now: datetime, contract_ended_at: datetime | None) -> tuple[datetime, str]:
        if contract_ended_at is None:
            return now + self.records, "records"
        return self.customer_after_contract_end(contract_ended_at), "R6"


class Protector:
    def __init__(
        self,
        keys: SubjectKeys,
        pseudonyms: Pseudonyms,
        lifetimes: KeyLifetimes,
        contract_ended: Callable[[str], datetime | None],
        clock: Clock,
        on_key: Callable[[str, SubjectKey], None],
        in_stream: Callable[[], bool] = lambda: current_event() is not None,
    ) -> None:
        """`on_key` hears of every key made or moved (the key expiry tracks its end); `in_stream`:
        whether a table may be written now (faust allows it only while processing a record)."""
        self.keys = keys
        self.pseudonyms = pseudonyms
        self.lifetimes = lifetimes
        self._contract_ended = contract_ended
        self._clock = clock
        self._on_key = on_key
        self._in_stream = in_stream

    def protect(self, partition: int, document: Mapping[str, Any]) -> dict[str, Any]:
        case = (document.get("details") or {}).get("case_reference") or None
        case_ref = self.pseudonyms.case(case) if case else None
        return protect(document, lambda subject, ref: self._key_of(partition, subject, ref, case_ref))

    def message_key(self, key: str, customer_id: str | None) -> str:
        """The key of the record on the audit topic: never the customer's id (a customer's own
        records are all keyed `customer`; the key decides nothing, the partition is chosen)."""
        return "customer" if customer_id is not None and key == customer_id else key

    def contract_ended(self, partition: int, customer_id: str, ended_at: datetime) -> None:
        """Bring the customer's key in this partition to its end under R6 (only while processing)."""
        ends = self.lifetimes.customer_after_contract_end(ended_at)
        self.end_customer_key(partition, customer_id, ends, "R6")

    def end_customer_key(self, partition: int, customer_id: str, ends_at: datetime, why: str) -> None:
        """Bring the customer's key in this partition forward to `ends_at` (a later end changes
        nothing; only while processing a record of the partition)."""
        name = table_key(partition, Subject.CUSTOMER, self.pseudonyms.customer(customer_id))
        moved = self.keys.end_by(name, ends_at, why)
        if moved is not None:
            self._on_key(name, moved)

    def hold_accepted(self, partition: int, customer_id: str, limit: datetime) -> None:
        """A hold on the customer's evidence after their erasure request: their fields in the audit
        trail stay readable until the hold's limit (Art. 17(3)), not only the request's grace."""
        name = table_key(partition, Subject.CUSTOMER, self.pseudonyms.customer(customer_id))
        moved = self.keys.move_end(name, limit, only_if="Art17")
        if moved is not None:
            self._on_key(name, moved)

    def customer_fields(self, partition: int, customer_id: str) -> ServiceRecords | None:
        """For an access answer: the customer's fields in this partition's audit records, kept until
        when or erased when (None: the partition sealed none of theirs)."""
        name = table_key(partition, Subject.CUSTOMER, self.pseudonyms.customer(customer_id))
        known = self.keys.get(name)
        if known is None:
            return None
        if known.key is None:
            return ServiceRecords(what=AUDIT_FIELDS, kept_until=None, erased_at=known.ended_at)
        return ServiceRecords(what=AUDIT_FIELDS, kept_until=known.ends_at, erased_at=None)

    def _key_of(
        self, partition: int, subject: Subject, subject_id: str, case_ref: str | None
    ) -> tuple[str, bytes]:
        ref = self.pseudonyms.customer(subject_id) if subject is Subject.CUSTOMER else subject_id
        case_ref = case_ref if subject is Subject.HOLD else None
        name = table_key(partition, subject, ref)
        known = self.keys.get(name)
        usable = _usable(known)
        if usable is not None and (case_ref is None or (known is not None and known.case_ref)):
            assert known is not None
            if known.why == "records" and self._in_stream():
                self._move_on(name, known)
            return usable
        if not self._in_stream():
            if usable is not None:
                return usable
            # Republished after a restart with no key to use (its subject's end passed): erased now.
            # The part is sealed under a key made for it and dropped at once: it never opens.
            return NO_KEY, new_key()
        now = self._clock.now()
        if subject is Subject.CUSTOMER:
            ends_at, why = self.lifetimes.customer_ends(now, self._contract_ended(subject_id))
        elif subject is Subject.OBJECTS:  # a key of the day (`subject_id`, the records' date)
            ends_at, why = now + timedelta(days=1) + self.lifetimes.unattributed, "unattributed"
        else:
            ends_at, why = now + self.lifetimes.hold_details, "S5"
        made = self.keys.live(name, now, ends_at, why, case_ref)
        if usable is None:
            self._on_key(name, made)
        made_usable = _usable(made)
        assert made_usable is not None
        return made_usable

    def _move_on(self, name: str, known: SubjectKey) -> None:
        """A running contract's key lives until AUDIT_RETENTION after the last record it sealed:
        moved on as it is used, once a day at most (a table write, not one per record)."""
        wanted = self._clock.now() + self.lifetimes.records
        if wanted - known.ends_at >= MOVE_ON_AFTER:
            moved = self.keys.move_end(name, wanted, only_if="records")
            if moved is not None:
                self._on_key(name, moved)


MOVE_ON_AFTER = timedelta(days=1)


def _usable(key: SubjectKey | None) -> tuple[str, bytes] | None:
    if key is None or key.kid is None or key.key is None:
        return None
    return key.kid, key.key
