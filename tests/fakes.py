"""Test doubles for the shell's own ports (never for Kafka or S3 in integration tests)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from types import SimpleNamespace


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


class FakeTopic:
    """Records what the service publishes; stands in for a faust topic in unit tests only."""

    def __init__(self) -> None:
        self.sent: list[dict[str, object]] = []
        # Like a broker, it calls a send's callback once the record is acknowledged: at once, unless a
        # test holds acknowledgements back (then `acknowledge()` releases them, or they are never sent).
        self.acknowledging = True
        self._unacknowledged: list[tuple[Callable[[object], object], int]] = []

    async def send(
        self,
        *,
        key: bytes | None,
        value: bytes,
        partition: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        self.send_soon(key=key, value=value, partition=partition, headers=headers)

    def send_soon(
        self,
        *,
        key: bytes | None,
        value: bytes,
        partition: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
        callback: Callable[[object], object] | None = None,
    ) -> None:
        self.sent.append({"key": key, "value": value, "partition": partition, "headers": headers or []})
        if callback is not None:
            self._unacknowledged.append((callback, len(self.sent) - 1))
        if self.acknowledging:
            self.acknowledge()

    def acknowledge(self) -> None:
        waiting, self._unacknowledged = self._unacknowledged, []
        for callback, offset in waiting:
            callback(_Delivered(offset))


class _Delivered:
    """What faust gives a send's callback: the message, whose result says where it was written."""

    def __init__(self, offset: int) -> None:
        self._metadata = SimpleNamespace(offset=offset)

    def result(self) -> SimpleNamespace:
        return self._metadata


class FakeTable(dict):  # type: ignore[type-arg]
    """A faust table is a mapping with a `.data` store behind it."""

    @property
    def data(self) -> FakeTable:
        return self
