"""Contract ends, as each partition has heard them (see ContractEndBroadcast)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from streams.tables.partition_copies import forget_this_partitions_copy


class ContractEnds:
    def __init__(self, table: Any) -> None:
        self._table = table

    def get(self, customer_id: str) -> tuple[datetime, str] | None:
        """(ended_at, event_id of the contract.ended event), or None if the contract has not ended."""
        raw = self._table.get(customer_id.encode("utf-8"))
        if raw is None or raw == b"{}":
            return None
        stored = json.loads(raw)
        return datetime.fromisoformat(stored["ended_at"]), stored["event_id"]

    def record(self, customer_id: str, ended_at: datetime, event_id: str) -> None:
        """Only from inside stream processing. The earliest end stands."""
        known = self.get(customer_id)
        if known is not None and known[0] <= ended_at:
            return
        value = json.dumps({"ended_at": ended_at.isoformat(), "event_id": event_id}).encode("utf-8")
        self._table[customer_id.encode("utf-8")] = value

    def forget(self, customer_id: str) -> None:
        """Every partition holds its own copy of an end (each heard the broadcast): each forgets its own."""
        forget_this_partitions_copy(self._table, customer_id.encode("utf-8"))

    def customers(self) -> list[str]:
        return [key.decode("utf-8") for key in list(self._table.data.keys())]
