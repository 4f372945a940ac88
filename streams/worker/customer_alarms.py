"""Which alarms of each customer a worker holds: where a contract end or a customer's request goes.

Derived like the schedule (rebuilt from the alarms table after every rebalance). In memory it costs a
set per customer; with TABLE_STORE=rocksdb it lives on disk beside the tables, as keys
customer + NUL + alarm, so a customer's alarms are one prefix scan and memory does not grow with them.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from rocksdict import WriteBatch

from streams.tables.store import fresh_database

_SEPARATOR = b"\0"


class CustomerAlarms(Protocol):
    def add(self, customer_id: str, alarm_id: str) -> None: ...
    def add_many(self, pairs: Iterable[tuple[str, str]]) -> None: ...
    def discard(self, customer_id: str, alarm_id: str) -> None: ...
    def of(self, customer_id: str) -> list[str]: ...
    def clear(self) -> None: ...


class CustomerAlarmsInMemory:
    def __init__(self) -> None:
        self._alarms: dict[str, set[str]] = {}

    def add(self, customer_id: str, alarm_id: str) -> None:
        self._alarms.setdefault(customer_id, set()).add(alarm_id)

    def add_many(self, pairs: Iterable[tuple[str, str]]) -> None:
        for customer_id, alarm_id in pairs:
            self.add(customer_id, alarm_id)

    def discard(self, customer_id: str, alarm_id: str) -> None:
        alarms = self._alarms.get(customer_id)
        if alarms is not None:
            alarms.discard(alarm_id)
            if not alarms:
                del self._alarms[customer_id]

    def of(self, customer_id: str) -> list[str]:
        return sorted(self._alarms.get(customer_id, ()))

    def clear(self) -> None:
        self._alarms.clear()


class CustomerAlarmsOnDisk:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._db = fresh_database(self._path)

    def add(self, customer_id: str, alarm_id: str) -> None:
        self._db.put(_key(customer_id, alarm_id), b"")

    def add_many(self, pairs: Iterable[tuple[str, str]]) -> None:
        batch = WriteBatch(raw_mode=True)
        for customer_id, alarm_id in pairs:
            batch.put(_key(customer_id, alarm_id), b"")
        self._db.write(batch)

    def discard(self, customer_id: str, alarm_id: str) -> None:
        self._db.delete(_key(customer_id, alarm_id))

    def of(self, customer_id: str) -> list[str]:
        prefix = customer_id.encode("utf-8") + _SEPARATOR
        found = []
        for key in self._db.keys(from_key=prefix):
            assert isinstance(key, bytes)  # raw mode
            if not key.startswith(prefix):
                break
            found.append(key[len(prefix) :].decode("utf-8"))
        return found

    def clear(self) -> None:
        self._db.close()
        self._db = fresh_database(self._path)

    def close(self) -> None:
        self._db.close()


def customer_alarms_for(state_dir: str | None) -> CustomerAlarms:
    if state_dir is None:
        return CustomerAlarmsInMemory()
    return CustomerAlarmsOnDisk(Path(state_dir) / "indexes" / "customer-alarms")


def _key(customer_id: str, alarm_id: str) -> bytes:
    return customer_id.encode("utf-8") + _SEPARATOR + alarm_id.encode("utf-8")
