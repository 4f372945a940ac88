"""A record we cannot process goes to the dead-letter topic whole, with the reason and where it was.

The original key and value are kept so that the record can be fixed and replayed; they may hold any
personal data, so they are sealed under the dead-letter key of the day (streams/protection/
deadletter_keys.py): `retention deadletters show` opens them while that key lives.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any


def source_id(topic: str, partition: int, offset: int) -> str:
    """What a sealed dead letter is bound to: where its record was."""
    return f"{topic}/{partition}/{offset}"


Seal = Callable[[str, Mapping[str, Any]], dict[str, str]]  # (where the record was, the original)


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
    seal: Seal | None = None,
) -> bytes:
    """`seal`: encrypts the original bytes (None: kept in the clear, as before this version)."""
    original = {
        "key_base64": base64.b64encode(key).decode("ascii") if key is not None else None,
        "value_base64": base64.b64encode(value).decode("ascii") if value is not None else None,
    }
    document: dict[str, Any] = {
        "reason": reason,
        "source": {
            "topic": topic,
            "partition": partition,
            "offset": offset,
            "timestamp": timestamp,
        },
        "dead_lettered_at": now.isoformat(),
    }
    if seal is None:
        document.update(original)
    else:
        document["encrypted"] = seal(source_id(topic, partition, offset), original)
    return json.dumps(document).encode("utf-8")
