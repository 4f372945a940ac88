"""Test doubles for the shell's own ports (never for Kafka or S3 in integration tests)."""

from __future__ import annotations

from datetime import datetime, timedelta


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
    ) -> None:
        self.sent.append({"key": key, "value": value, "partition": partition, "headers": headers or []})


class FakeTable(dict):  # type: ignore[type-arg]
    """A faust table is a mapping with a `.data` store behind it."""

    @property
    def data(self) -> FakeTable:
        return self
