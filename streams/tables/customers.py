"""The customers table: each customer's erasure schedule (handlers/erasure.py), by customer_id."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any

from handlers.erasure import CustomerRecord, Unsent, decode_customer, decode_stored_customer, encode_customer
from streams.kafka.partitioning import partition_for


class CustomerTable:
    def __init__(self, table: Any, partitions: int) -> None:
        self._table = table
        self.partitions = partitions

    def get(self, customer_id: str) -> CustomerRecord | None:
        raw = self._table.get(customer_id.encode("utf-8"))
        return decode_customer(raw) if raw is not None else None

    def stored(self, customer_id: str) -> tuple[CustomerRecord, tuple[Unsent, ...]] | None:
        """The record and its outbox (streams/worker/outbox.py)."""
        raw = self._table.get(customer_id.encode("utf-8"))
        return decode_stored_customer(raw) if raw is not None else None

    def put(self, record: CustomerRecord, outbox: Collection[Unsent] = ()) -> None:
        """Only from inside stream processing of the customer's partition (customer events, or the
        internal topic's partition of the same number)."""
        self._table[record.customer_id.encode("utf-8")] = encode_customer(record, outbox)

    def forget(self, customer_id: str) -> None:
        """The customer's record is over (schedule row S3): a tombstone on the changelog. Only from
        inside stream processing of the customer's partition."""
        key = customer_id.encode("utf-8")
        if self._table.get(key) is not None:
            del self._table[key]

    def partition_of(self, customer_id: str) -> int:
        return partition_for(customer_id, self.partitions)

    def records_in(self, partitions: Collection[int]) -> Iterator[tuple[CustomerRecord, tuple[Unsent, ...]]]:
        """Each customer's record of these partitions, with its outbox."""
        wanted = set(partitions)
        for key in list(self._table.data.keys()):
            customer_id = key.decode("utf-8")
            if self.partition_of(customer_id) in wanted:
                stored = self.stored(customer_id)
                if stored is not None:
                    yield stored
