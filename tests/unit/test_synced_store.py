"""A table's database on disk is trusted only while known to be in step with its changelog: one left
unattended longer than a tombstone outlives its compaction is wiped before faust opens it."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import faust
from faust.types import TP

from streams.tables import synced_store


def _table(datadir: Path, name: str) -> Any:
    app = faust.App(
        name, broker="kafka://unused:9092", store=f"{synced_store.SCHEME}://", datadir=str(datadir)
    )
    return app.Table(
        "alarms", key_type=bytes, value_type=bytes, partitions=1, options={"driver": "rocksdict"}
    )


def _left_by_a_worker(datadir: Path, name: str) -> Any:
    """A database with one record, as a worker that stopped left it."""
    store = _table(datadir, name).data
    assert isinstance(store, synced_store.SyncedStore)
    store._db_for_partition(0).put(b"alarm-1", b"state")
    store.set_persisted_offset(TP(f"{name}-alarms-changelog", 0), 41)
    store._dbs.pop(0).close()  # the process ends (RocksDB allows one opener per process)
    return store


def test_a_database_in_step_is_opened_as_it_was(tmp_path: Path) -> None:
    name = f"synced-{uuid.uuid4().hex[:6]}"
    _left_by_a_worker(tmp_path, name)
    again = _table(tmp_path, name).data
    assert again._db_for_partition(0).get(b"alarm-1") == b"state"
    assert again.persisted_offset(TP(f"{name}-alarms-changelog", 0)) == 41


def test_a_database_left_too_long_is_wiped_and_read_again_in_full(tmp_path: Path) -> None:
    name = f"synced-{uuid.uuid4().hex[:6]}"
    store = _left_by_a_worker(tmp_path, name)
    note = store._note_path(0)
    note.write_text(f"{time.time() - synced_store.TRUSTED_FOR_SECONDS - 1}")
    again = _table(tmp_path, name).data
    assert again._db_for_partition(0).get(b"alarm-1") is None
    assert again.persisted_offset(TP(f"{name}-alarms-changelog", 0)) is None  # faust reads it from 0


def test_a_database_given_away_is_not_trusted_when_it_comes_back(tmp_path: Path) -> None:
    name = f"synced-{uuid.uuid4().hex[:6]}"
    table = _table(tmp_path, name)
    store = table.data
    store._db_for_partition(0).put(b"alarm-1", b"state")
    store.revoke_partitions(table, {TP(table.changelog_topic.get_topic_name(), 0)})
    again = _table(tmp_path, name).data
    assert again._db_for_partition(0).get(b"alarm-1") is None
