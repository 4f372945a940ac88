"""The service's own signing key for handover manifests (Ed25519, `cryptography`): the police verify a
manifest with the public key the API publishes (GET /api/v1/handover/key), so the list of files, their
sizes and SHA-256 hashes is the service's word, whoever carried the files."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


def canonical(manifest: Mapping[str, Any]) -> bytes:
    return json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def private_key(secret: str) -> Ed25519PrivateKey:
    """From HANDOVER_SIGNING_KEY: the 32-byte seed, base64."""
    try:
        seed = base64.b64decode(secret, validate=True)
        return Ed25519PrivateKey.from_private_bytes(seed)
    except ValueError:
        raise ValueError("HANDOVER_SIGNING_KEY: the base64 of 32 random bytes") from None


def public_key_text(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def sign(key: Ed25519PrivateKey, manifest: Mapping[str, Any]) -> str:
    return base64.b64encode(key.sign(canonical(manifest))).decode("ascii")


def verify(public_key: str, manifest: Mapping[str, Any], signature: str) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key)).verify(
            base64.b64decode(signature), canonical(manifest)
        )
    except (InvalidSignature, ValueError):
        return False
    return True
