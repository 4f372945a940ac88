"""A record we cannot process goes to the dead-letter topic whole, with the reason and where it was."""

from __future__ import annotations

import base64
import json
from datetime import datetime


def deadletter_value(
    *,
    reason: str,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    timestamp: float | None,
    now: datetime,
) -> bytes:
    document = {
        "reason": reason,
        "source": {
            "topic": topic,
            "partition": partition,
            "offset": offset,
            "timestamp": timestamp,
        },
        "dead_lettered_at": now.isoformat(),
        # The original bytes, unchanged, so the record can be fixed and replayed.
        "key_base64": base64.b64encode(key).decode("ascii") if key is not None else None,
        "value_base64": base64.b64encode(value).decode("ascii") if value is not None else None,
    }
    return json.dumps(document).encode("utf-8")
