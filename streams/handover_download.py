"""`retention holds handover HOLD_ID --out DIR`: what the police liaison runs. It asks the API for the
handover, downloads every version through its link (streamed to disk, hashed as it comes), checks the
manifest's signature against the key the API publishes and every file's SHA-256 and size against the
manifest, and says so. Files are named `<bucket>/<key>@<version_id>`; the manifest and its signature are
written beside them (`manifest.json`, `manifest.sig`) for whoever receives the evidence next.
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


@dataclass
class Verdict:
    files: int = 0
    bytes: int = 0
    signature_valid: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return self.signature_valid and not self.problems


def download(answer: dict[str, Any], public_key: str, out: Path) -> Verdict:
    """Download a handover's files into `out` and check them (nothing is trusted before it is checked)."""
    manifest, signature = answer["manifest"], answer["signature"]
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    (out / "manifest.sig").write_text(signature + "\n")
    verdict = Verdict(signature_valid=verify(public_key, manifest, signature))
    if not verdict.signature_valid:
        verdict.problems.append("the manifest's signature does not verify with the service's key")
    links = {(link["bucket"], link["key"], link["version_id"]): link["url"] for link in answer["links"]}
    with httpx.Client(timeout=60) as client:
        for entry in manifest["objects"]:
            where = (entry["bucket"], entry["key"], entry["version_id"])
            path = out / entry["bucket"] / f"{entry['key']}@{entry['version_id']}"
            url = links.get(where)
            if url is None:
                verdict.problems.append(f"{path.relative_to(out)}: no link")
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            with client.stream("GET", url) as response, path.open("wb") as file:
                if response.status_code != 200:
                    verdict.problems.append(
                        f"{path.relative_to(out)}: download refused ({response.status_code})"
                    )
                    continue
                for chunk in response.iter_bytes(CHUNK):
                    file.write(chunk)
            verdict.files += 1
            verdict.bytes += path.stat().st_size
    return check(out, verdict)


def check(out: Path, verdict: Verdict | None = None) -> Verdict:
    """Check files already in `out` against the manifest beside them (run it again later: it says whether
    anything changed since)."""
    manifest = json.loads((out / "manifest.json").read_text())
    verdict = verdict or Verdict(signature_valid=True)
    for entry in manifest["objects"]:
        path = out / entry["bucket"] / f"{entry['key']}@{entry['version_id']}"
        name = str(path.relative_to(out))
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
    return verdict
