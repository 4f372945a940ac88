"""HMAC signatures on hold events, so that write access to the police-holds topic is not enough to
release a hold (or to place one).

A signed event carries `key_id` and `signature`: the hex HMAC-SHA256, with the key named by `key_id`,
of the event's canonical JSON (every field but `signature`, keys sorted, no spaces, UTF-8). The API
signs what it produces; any other producer given a key signs the same way.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any


def canonical(document: Mapping[str, Any]) -> bytes:
    unsigned = {k: v for k, v in document.items() if k != "signature"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sign(document: Mapping[str, Any], key_id: str, secret: bytes) -> dict[str, Any]:
    signed = {**document, "key_id": key_id}
    signed["signature"] = hmac.new(secret, canonical(signed), hashlib.sha256).hexdigest()
    return signed


def signature_problem(document: Mapping[str, Any], keys: Mapping[str, bytes]) -> str | None:
    """Why the document's signature is not acceptable, or None when it is."""
    key_id, signature = document.get("key_id"), document.get("signature")
    if not key_id or not signature:
        return "hold event is not signed (key_id and signature are required)"
    if not isinstance(key_id, str) or key_id not in keys:
        return "hold event is signed with an unknown key_id"
    expected = hmac.new(keys[key_id], canonical(document), hashlib.sha256).hexdigest()
    if not isinstance(signature, str) or not hmac.compare_digest(expected, signature):
        return "hold event signature does not match its content"
    return None
