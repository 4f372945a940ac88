"""Session fixtures: one real local stack (Tansu and SeaweedFS) on free loopback ports for the run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.local_stack import LocalStack, Ports


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    local = LocalStack(tmp_path_factory.mktemp("stack"), Ports.free())
    local.start()
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    folder = Path(__file__).resolve().parents[1] / "test-artifacts"
    folder.mkdir(exist_ok=True)
    return folder
