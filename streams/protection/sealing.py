"""AES-GCM for a record's personal fields: each subject's fields sealed under that subject's key.

The associated data binds a sealed part to its record and subject: a part copied into another record,
or under another subject, does not open.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from handlers.personal_fields import Subject, merge, split, subjects_of

KEY_BYTES = 32


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def _associated(audit_id: str, subject: Subject, kid: str) -> bytes:
    return f"{audit_id}|{subject.value}|{kid}".encode()


def seal_part(
    key: bytes, kid: str, audit_id: str, subject: Subject, part: Mapping[str, Any], nonce: bytes | None = None
) -> dict[str, str]:
    """`nonce`: only for the documentation's fixed examples; otherwise a fresh random one, as AES-GCM
    needs (a nonce used twice under one key gives its secrets away)."""
    nonce = nonce or os.urandom(12)
    data = AESGCM(key).encrypt(nonce, orjson.dumps(part), _associated(audit_id, subject, kid))
    return {"kid": kid, "nonce": _b64(nonce), "data": _b64(data)}


def open_part(key: bytes, audit_id: str, subject: Subject, sealed: Mapping[str, str]) -> dict[str, Any]:
    """Raises ValueError when the part does not open with this key (another record's, or altered)."""
    try:
        plain = AESGCM(key).decrypt(
            base64.b64decode(sealed["nonce"]),
            base64.b64decode(sealed["data"]),
            _associated(audit_id, subject, sealed["kid"]),
        )
    except (InvalidTag, KeyError, ValueError) as exc:
        raise ValueError(f"a sealed {subject.value} part does not open: {type(exc).__name__}") from None
    opened: dict[str, Any] = orjson.loads(plain)
    return opened


def protect(document: Mapping[str, Any], key_of: Any, nonce: bytes | None = None) -> dict[str, Any]:
    """The record with each subject's personal fields sealed under the key `key_of(subject, id)`
    returns as (kid, key bytes)."""
    clear, parts = split(document)
    if not parts:
        return clear
    audit_id = str(document["audit_id"])
    subjects = subjects_of(document)
    sealed = {}
    for subject, part in parts.items():
        kid, key = key_of(subject, subjects[subject])
        sealed[subject.value] = seal_part(key, kid, audit_id, subject, part, nonce)
    clear["encrypted"] = sealed
    return clear


def reveal(document: Mapping[str, Any], keys: Mapping[str, bytes]) -> dict[str, Any]:
    """The record as readers show it: what the keys still known (`keys`: kid -> key) open, and the
    rest erased. A record without sealed parts is shown as it is."""
    sealed = document.get("encrypted")
    if not isinstance(sealed, dict):
        return dict(document)
    opened: dict[Subject, dict[str, Any] | None] = {}
    for name, part in sealed.items():
        subject = Subject(name)
        key = keys.get(part.get("kid", ""))
        opened[subject] = (
            open_part(key, str(document["audit_id"]), subject, part) if key is not None else None
        )
    return merge(document, opened)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
