"""Handing held media over to the police, end to end: a hold, a handover, every version downloaded and
checked byte for byte against the signed manifest by the liaison's command line; a changed byte found;
the disclosure in the audit trail and in the customer's access answer; a released hold refused; another
unit refused; a 200 MB video handed over with the worker's memory flat (hashed as it streams)."""

from __future__ import annotations

import hashlib
import io
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from streams.handover_download import check, file_name
from streams.local.stack import EVIDENCE_BUCKET, LocalStack
from streams.local.worker_process import WorkerProcess
from streams.protection.handover_signing import canonical
from tests.builders import alarm_json
from tests.e2e.helpers import audit_of, bearer, retention, send, unique

pytestmark = pytest.mark.e2e
LIAISON, OTHER_UNIT = "police-liaison", "police-liaison@other-unit"


async def held(
    worker: WorkerProcess, stack: LocalStack, s3: Any, bodies: dict[str, list[bytes]]
) -> dict[str, str]:
    """An alarm of a customer whose objects have these versions (oldest first), held by unit A."""
    alarm_id, customer = unique("handover"), unique("customer")
    for key, versions in bodies.items():
        for body in versions:
            s3.upload_fileobj(io.BytesIO(body), EVIDENCE_BUCKET, f"{alarm_id}/{key}")
    keys = [f"{alarm_id}/{key}" for key in bodies]
    event = alarm_json(alarm_id, keys, bucket=EVIDENCE_BUCKET, customer_id=customer, at=datetime.now(UTC))
    await send(stack, "alarm-events", alarm_id, event)
    await audit_of(stack, alarm_id, "media.deletion_scheduled")
    async with httpx.AsyncClient(base_url=worker.url, headers=bearer(LIAISON), timeout=30) as api:
        placed = await api.post("/api/v1/holds", json={"alarm_id": alarm_id, "case_reference": "2026-HO-1"})
    assert placed.status_code == 201, placed.text
    assert placed.json()["status"] == "accepted", placed.text
    return {"alarm_id": alarm_id, "customer": customer, "hold_id": placed.json()["hold_id"]}


def handover(worker: WorkerProcess, role: str, hold_id: str, out: Path) -> Any:
    return retention(worker, role, "--json", "holds", "handover", hold_id, "--out", str(out))


class TestAHandover:
    async def test_is_verified_byte_for_byte_recorded_as_a_disclosure_and_shown_to_the_customer(
        self, worker: WorkerProcess, media_stack: LocalStack, s3: Any, tmp_path: Path
    ) -> None:
        bodies = {
            "cam1.jpg": [b"first version of cam1", b"second version of cam1"],
            "cam2.mp4": [os.urandom(3000)],
        }
        case = await held(worker, media_stack, s3, bodies)

        done = handover(worker, LIAISON, case["hold_id"], tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        verdict = json.loads(done.stdout)
        assert (verdict["verified"], verdict["files"]) == (True, 3)
        assert verdict["bytes"] == sum(len(b) for versions in bodies.values() for b in versions)
        # Against what was stored, not the service's word: every version, byte for byte.
        manifest = json.loads(done_manifest(tmp_path))
        for entry in manifest["objects"]:
            name = entry["key"].split("/", 1)[1]
            data = downloaded(tmp_path, entry)
            assert data in bodies[name]
            assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert sorted(e["size"] for e in manifest["objects"]) == sorted(
            len(b) for v in bodies.values() for b in v
        )
        assert manifest["case_reference"] == "2026-HO-1"
        assert manifest["unit"] == "test-police"

        # One changed byte is found.
        flip_a_byte(tmp_path)
        async with httpx.AsyncClient(base_url=worker.url, timeout=10) as api:
            key = (await api.get("/api/v1/handover/key")).json()["public_key"]
        assert any("not the bytes the manifest lists" in p for p in check(tmp_path, key).problems)

        # The disclosure: in the audit trail, with the manifest's hash ...
        (disclosed,) = await audit_of(media_stack, case["alarm_id"], "media.disclosed")
        assert disclosed["hold_id"] == case["hold_id"]
        assert disclosed["details"]["manifest_sha256"] == hashlib.sha256(canonical(manifest)).hexdigest()
        assert disclosed["details"]["unit"] == "test-police"
        assert disclosed["details"]["case_reference"] == "2026-HO-1"
        assert disclosed["details"]["requested_by"] == "test-police-liaison"
        assert {o["key"] for o in disclosed["objects"]} == {f"{case['alarm_id']}/{k}" for k in bodies}
        # ... and in the customer's access answer: what, to whom, when, on which basis.
        async with httpx.AsyncClient(base_url=worker.url, headers=bearer("operator"), timeout=30) as api:
            for _ in range(40):
                access = await api.post(
                    f"/api/v1/customers/{case['customer']}/requests", json={"kind": "access"}
                )
                assert access.status_code == 201, access.text
                disclosures = access.json()["answer"]["disclosures"]
                if disclosures:
                    break
        (shown,) = disclosures
        assert shown["alarm_id"] == case["alarm_id"]
        assert shown["recipient"].startswith("police")
        assert shown["unit"] == "test-police"
        assert "Art. 6(1)(c)" in shown["legal_basis"]
        assert sorted(shown["objects"]) == sorted(f"{case['alarm_id']}/{k}" for k in bodies)

    async def test_of_a_released_hold_or_another_units_is_refused(
        self, worker: WorkerProcess, media_stack: LocalStack, s3: Any, tmp_path: Path
    ) -> None:
        case = await held(worker, media_stack, s3, {"cam1.jpg": [b"jpeg"]})
        theirs = handover(worker, OTHER_UNIT, case["hold_id"], tmp_path / "theirs")
        assert theirs.returncode == 1
        assert "404 unknown_hold" in theirs.stderr
        async with httpx.AsyncClient(base_url=worker.url, headers=bearer(LIAISON), timeout=30) as api:
            released = await api.post(f"/api/v1/holds/{case['hold_id']}/release", json={})
        assert released.status_code == 201, released.text
        after = handover(worker, LIAISON, case["hold_id"], tmp_path / "after")
        assert after.returncode == 1
        assert "409 hold_not_active" in after.stderr
        assert "released" in after.stderr


class TestALargeObject:
    async def test_is_hashed_as_it_streams_and_the_workers_memory_stays_flat(
        self, worker: WorkerProcess, media_stack: LocalStack, s3: Any, tmp_path: Path
    ) -> None:
        size = 200 * 1024 * 1024
        video = os.urandom(1024 * 1024) * 200  # 200 MB; its hash computed here, to compare
        expected = hashlib.sha256(video).hexdigest()
        case = await held(worker, media_stack, s3, {"video.mp4": [video]})
        del video
        before = peak_memory(worker)
        done = handover(worker, LIAISON, case["hold_id"], tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        (entry,) = json.loads(done_manifest(tmp_path))["objects"]
        assert (entry["size"], entry["sha256"]) == (size, expected)
        growth = peak_memory(worker) - before
        assert growth < 64 * 1024 * 1024, f"the worker's peak memory grew by {growth / 2**20:.0f} MB"


def downloaded(out: Path, entry: dict[str, Any]) -> bytes:
    return (out / file_name(entry)).read_bytes()


def done_manifest(out: Path) -> str:
    return (out / "manifest.json").read_text()


def flip_a_byte(out: Path) -> None:
    victim = next(p for p in out.rglob("*@*") if p.is_file())
    data = bytearray(victim.read_bytes())
    data[0] ^= 1
    victim.write_bytes(bytes(data))


def peak_memory(worker: WorkerProcess) -> int:
    """The worker's peak resident memory so far (VmHWM), in bytes."""
    assert worker.process is not None
    status = Path(f"/proc/{worker.process.pid}/status").read_text()
    (line,) = [line for line in status.splitlines() if line.startswith("VmHWM:")]
    return int(line.split()[1]) * 1024
