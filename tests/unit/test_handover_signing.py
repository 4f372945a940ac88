"""The handover manifest's signature: the service's Ed25519 key signs the canonical JSON; any change to
the manifest, or another key, fails the check."""

from __future__ import annotations

import base64

import pytest

from streams.protection.handover_signing import private_key, public_key_text, sign, verify

KEY = private_key(base64.b64encode(bytes(range(32))).decode())
MANIFEST = {"hold_id": "h1", "objects": [{"key": "a.jpg", "sha256": "00" * 32, "size": 4}]}


def test_a_signed_manifest_verifies_with_the_published_key() -> None:
    assert verify(public_key_text(KEY), MANIFEST, sign(KEY, MANIFEST))


def test_key_order_does_not_matter_but_any_change_does() -> None:
    signature = sign(KEY, MANIFEST)
    assert verify(public_key_text(KEY), dict(reversed(list(MANIFEST.items()))), signature)
    changed = {**MANIFEST, "objects": [{"key": "a.jpg", "sha256": "11" * 32, "size": 4}]}
    assert not verify(public_key_text(KEY), changed, signature)


def test_another_key_does_not_verify_and_garbage_is_refused() -> None:
    other = private_key(base64.b64encode(bytes(32)).decode())
    assert not verify(public_key_text(other), MANIFEST, sign(KEY, MANIFEST))
    assert not verify(public_key_text(KEY), MANIFEST, "not base64 at all")
    with pytest.raises(ValueError, match="32 random bytes"):
        private_key("too short")
