"""The liaison's check of a handover folder: files stay inside it whatever a key says, and a re-check
catches a changed file, a manifest edited to match it, and a file added."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

from streams.handover_download import check, file_name
from streams.protection.handover_signing import private_key, public_key_text, sign

KEY = private_key(base64.b64encode(bytes(range(32))).decode())
PUBLIC = public_key_text(KEY)


def folder(tmp_path: Path, body: bytes = b"jpeg bytes") -> tuple[Path, dict[str, object]]:
    entry = {"bucket": "evidence", "key": "a1/cam1.jpg", "version_id": "v1", "size": len(body),
             "sha256": hashlib.sha256(body).hexdigest()}  # fmt: skip
    manifest = {"hold_id": "h1", "objects": [entry]}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "manifest.sig").write_text(sign(KEY, manifest))
    path = tmp_path / file_name(entry)
    path.parent.mkdir(parents=True)
    path.write_bytes(body)
    return tmp_path, manifest


def test_a_folder_as_handed_over_verifies(tmp_path: Path) -> None:
    out, _ = folder(tmp_path)
    assert check(out, PUBLIC).verified


def test_a_changed_file_with_its_manifest_edited_to_match_does_not(tmp_path: Path) -> None:
    out, manifest = folder(tmp_path)
    forged = b"other bytes"
    (out / "evidence" / "a1" / "cam1.jpg@v1").write_bytes(forged)
    manifest["objects"][0].update(size=len(forged), sha256=hashlib.sha256(forged).hexdigest())  # type: ignore[index]
    (out / "manifest.json").write_text(json.dumps(manifest))
    verdict = check(out, PUBLIC)
    assert not verdict.verified
    assert "signature does not verify" in verdict.problems[0]


def test_a_file_added_to_the_folder_is_named(tmp_path: Path) -> None:
    out, _ = folder(tmp_path)
    (out / "evidence" / "planted.jpg").write_bytes(b"x")
    assert check(out, PUBLIC).problems == ["evidence/planted.jpg: not in the manifest"]


def test_a_key_that_would_leave_the_folder_is_named_by_its_hash() -> None:
    for key in ("a1/../../../escaped", "/tmp/absolute", "a1/./x", ""):
        name = file_name({"bucket": "evidence", "key": key, "version_id": "v1"})
        assert name.startswith("evidence/_unsafe-key-")
        assert ".." not in name
    for entry in (
        {"bucket": "../b", "key": "k", "version_id": "v"},
        {"bucket": "b", "key": "k", "version_id": "../v"},
    ):
        assert ".." not in file_name(entry)
