"""`retention holds handover HOLD_ID --out DIR`: what the police liaison runs. It asks the API for the
handover, downloads every version through its link (streamed to disk, hashed as it comes), checks the
manifest's signature against the key the API publishes and every file's SHA-256 and size against the
manifest, and says so. `retention holds check DIR` checks a folder again later (the signature too, and
that no file was added).

Files are named `<bucket>/<key>@<version_id>`; a key that would leave the folder (`..`, an absolute
path: producers choose keys) is named by its hash instead. The manifest, its signature and the key it
was checked with are written beside them (`manifest.json`, `manifest.sig`, `manifest.key`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from streams.protection.handover_signing import verify

CHUNK = 1024 * 1024
BESIDE = ("manifest.json", "manifest.sig", "manifest.key")


@dataclass
class Verdict:
    files: int = 0
    bytes: int = 0
    signature_valid: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return self.signature_valid and not self.problems


def file_name(entry: dict[str, Any]) -> str:
    """Where an entry's file goes, relative to the folder: never outside it."""
    bucket, key, version = str(entry["bucket"]), str(entry["key"]), str(entry["version_id"])
    if not _plain(bucket):
        bucket = "_unsafe-bucket-" + hashlib.sha256(bucket.encode("utf-8")).hexdigest()[:32]
    key_is_safe = bool(key) and all(_plain(p) for p in key.split("/"))
    if not key_is_safe or not _plain(version):
        key = "_unsafe-key-" + hashlib.sha256(f"{key}@{version}".encode()).hexdigest()[:32]
        version = "v"
    return f"{bucket}/{key}@{version}"


def _plain(part: str) -> bool:
    """A name that is one folder entry: not empty, not `.` or `..`, no slash."""
    return part not in ("", ".", "..") and "/" not in part and "\\" not in part


def download(answer: dict[str, Any], public_key: str, out: Path) -> Verdict:
    """Download a handover's files into `out` (which must be empty or new) and check them."""
    if out.exists() and any(out.iterdir()):
        return Verdict(problems=[f"{out} is not empty: give a new folder, so nothing else is mixed in"])
    manifest, signature = answer["manifest"], answer["signature"]
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    (out / "manifest.sig").write_text(signature + "\n")
    (out / "manifest.key").write_text(public_key + "\n")
    verdict = Verdict()
    links = {(link["bucket"], link["key"], link["version_id"]): link["url"] for link in answer["links"]}
    with httpx.Client(timeout=60) as client:
        for entry in manifest["objects"]:
            name = file_name(entry)
            url = links.get((entry["bucket"], entry["key"], entry["version_id"]))
            if url is None:
                verdict.problems.append(f"{name}: no link")
                continue
            path = out / name
            path.parent.mkdir(parents=True, exist_ok=True)
            with client.stream("GET", url) as response, path.open("wb") as file:
                if response.status_code != 200:
                    verdict.problems.append(f"{name}: download refused ({response.status_code})")
                    continue
                for chunk in response.iter_bytes(CHUNK):
                    file.write(chunk)
            verdict.files += 1
            verdict.bytes += path.stat().st_size
    return check(out, public_key, verdict)


def check(out: Path, public_key: str, verdict: Verdict | None = None) -> Verdict:
    """Check a handover folder: the manifest's signature (with the service's key, not one found in the
    folder), every file's SHA-256 and size, and that the folder holds nothing the manifest does not list."""
    manifest = json.loads((out / "manifest.json").read_text())
    signature = (out / "manifest.sig").read_text().strip()
    verdict = verdict or Verdict()
    verdict.signature_valid = verify(public_key, manifest, signature)
    if not verdict.signature_valid:
        verdict.problems.append("the manifest's signature does not verify with the service's key")
    listed = set()
    for entry in manifest["objects"]:
        name = file_name(entry)
        listed.add(name)
        path = out / name
        if not path.exists():
            if not any(p.startswith(name) for p in verdict.problems):
                verdict.problems.append(f"{name}: missing")
            continue
        digest, size = hashlib.sha256(), 0
        with path.open("rb") as file:
            for chunk in iter(lambda: file.read(CHUNK), b""):
                digest.update(chunk)
                size += len(chunk)
        if size != entry["size"] or digest.hexdigest() != entry["sha256"]:
            verdict.problems.append(f"{name}: not the bytes the manifest lists (SHA-256 or size differs)")
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        name = path.relative_to(out).as_posix()
        if name not in listed and name not in BESIDE:
            verdict.problems.append(f"{name}: not in the manifest")
    return verdict
