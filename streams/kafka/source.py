"""Where a record came from: the input topic the producer wrote it to, even after re-keying.

The re-keying stage forwards each input record to the service's own topic with its coordinates in
headers, so that a dead letter points at the record to fix and replay, and the audit trail at the
record that caused a decision, not at our copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TOPIC, PARTITION, OFFSET, TIMESTAMP = "source-topic", "source-partition", "source-offset", "source-timestamp"


@dataclass(frozen=True, slots=True)
class Source:
    topic: str
    partition: int
    offset: int
    timestamp: float | None

    @classmethod
    def of(cls, message: Any) -> Source:
        """The record's origin: from its headers when the service re-keyed it, else the record itself."""
        headers = dict(message.headers or ())
        if TOPIC not in headers:
            return cls(message.topic, message.partition, message.offset, message.timestamp)
        timestamp = headers.get(TIMESTAMP)
        return cls(
            topic=headers[TOPIC].decode("utf-8"),
            partition=int(headers[PARTITION]),
            offset=int(headers[OFFSET]),
            timestamp=float(timestamp) if timestamp else None,
        )

    def headers(self) -> list[tuple[str, bytes]]:
        stamp = b"" if self.timestamp is None else repr(self.timestamp).encode("ascii")
        return [
            (TOPIC, self.topic.encode("utf-8")),
            (PARTITION, str(self.partition).encode("ascii")),
            (OFFSET, str(self.offset).encode("ascii")),
            (TIMESTAMP, stamp),
        ]

    def __str__(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"
