"""Every store the service writes is declared with its retention (config/retention-schedule.toml,
`[[stores]]`, rendered into docs/record-of-processing.md): a topic, a table or an archive table the code
writes and the schedule omits fails here, as does a declaration of a store the code no longer has. Meta's
DELF catches under-deletion this way: every data type carries its deletion annotation, checked in CI."""

from __future__ import annotations

import re
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from config.schedule import load_schedule
from config.settings import Settings
from streams.app import build_app
from streams.clock import SystemClock
from streams.kafka.topic_configs import creation_configs
from streams.kafka.topology import other_own_topics, partitioned_topics
from streams.s3.object_store import InMemoryObjectStore

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = ROOT / "streams" / "postgres"


def declared(kind: str) -> dict[str, Any]:
    return {s.name: s for s in load_schedule(None).stores if s.kind == kind}


@pytest.fixture(scope="module")
def app() -> Any:
    settings = Settings(
        kafka_bootstrap_servers="127.0.0.1:9",
        media_buckets=["media"],
        table_store="memory",
        state_dir=tempfile.mkdtemp(),
    )
    return settings, build_app(settings, 8, InMemoryObjectStore(), SystemClock())


def written_topics(app: Any) -> set[str]:
    """Every topic the worker's faust app and its helpers name."""
    settings, retention = app
    topics = retention.service.topics
    names: set[str] = {settings.topics.audit_checkpoints}
    for field in topics.__dataclass_fields__:
        if field == "names":
            continue
        names.update(getattr(topics, field).topics)
    return names


def archive_tables() -> set[str]:
    sql = (
        "\n".join(p.read_text() for p in MIGRATIONS.rglob("*.sql")) + (MIGRATIONS / "migrate.py").read_text()
    )
    return set(re.findall(r"CREATE TABLE (?:IF NOT EXISTS )?([a-z_]+)", sql))


def test_every_topic_the_service_names_is_declared(app: Any) -> None:
    missing = written_topics(app) - set(declared("topic"))
    assert not missing, f"topics with no declared retention: {sorted(missing)}"


def test_every_table_is_declared(app: Any) -> None:
    tables = set(app[1].app.tables.keys())
    assert tables == set(declared("table")), "tables and declarations differ"


def test_every_archive_table_is_declared() -> None:
    assert archive_tables() == set(declared("archive table")), "archive tables and declarations differ"


def test_no_declaration_is_of_a_store_that_is_gone(app: Any) -> None:
    stale = set(declared("topic")) - written_topics(app)
    assert not stale, f"declared topics the service does not have: {sorted(stale)}"


def test_the_declared_retention_of_each_topic_the_service_creates_is_what_it_creates_it_with(
    app: Any,
) -> None:
    settings = app[0]
    values: dict[str, timedelta] = {
        "AUDIT_RETENTION": settings.audit_retention,
        "TRANSIT_RETENTION": settings.transit_retention,
        "DEADLETTER_RETENTION": settings.deadletter_retention,
        "ACCESS_LOG_RETENTION": settings.access_log_kept,
    }
    stores = declared("topic")
    created = set(other_own_topics(settings)) | set(partitioned_topics(settings))
    changelogs = {t for t in created if t.endswith("-changelog")}
    for topic in sorted(created - changelogs):
        if creation_configs(settings, topic)["cleanup.policy"] == "compact":
            assert "compacted" in stores[topic].kept, f"{topic} is compacted: its declaration says so"
            continue
        setting = re.search(r"\b([A-Z_]+_RETENTION)\b", stores[topic].kept)
        assert setting is not None, f"{topic}: the declaration names no retention setting"
        ms = int(creation_configs(settings, topic)["retention.ms"])
        assert timedelta(milliseconds=ms) == values[setting[1]], f"{topic} is created with another retention"


def test_every_schedule_row_a_store_names_exists() -> None:
    schedule = load_schedule(None)
    known = {r.id for r in schedule.rules} | {s.id for s in schedule.service_records}
    for store in schedule.stores:
        assert set(store.rows) <= known, store.name
