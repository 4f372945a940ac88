"""faust's RocksDB store, trusted only while it is known to be in step with its changelog.

faust keeps a partition's database on disk after the partition is given away (or the worker stops) and,
when it gets the partition back, reads the changelog only from the offset the database saved. Kafka
compaction removes a tombstone a day after it compacted it (`delete.retention.ms`,
streams/kafka/topic_configs.py), so a database older than that may never see that an alarm's or a
customer's record ended: the old record, with the customer and the object keys, would come back, and the
worker would act on it again. So each database has a note beside it of when it was last in step (written
as the worker writes, at most once a minute, and when it stops); given away, the note goes. A database
without a fresh note is wiped before it is opened, and faust reads that partition's changelog in full.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from faust.stores import STORES
from faust.stores.rocksdb import Store
from faust.types import TP

from streams.kafka.topic_configs import CHANGELOG_COMPACTION

SCHEME = "retention-rocksdb"
# Well inside the day a tombstone outlives its compaction: every tombstone written after the note is
# still in the changelog when a database this young is read forward from its saved offset.
TRUSTED_FOR_SECONDS = int(CHANGELOG_COMPACTION["delete.retention.ms"]) / 1000 / 2
NOTE_EVERY_SECONDS = 60.0


class SyncedStore(Store):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._noted: dict[int, float] = {}  # partition -> when its note was last written

    def set_persisted_offset(self, tp: TP, offset: int) -> None:
        super().set_persisted_offset(tp, offset)
        now = time.time()
        if now - self._noted.get(tp.partition, 0.0) >= NOTE_EVERY_SECONDS:
            self._write_note(tp.partition, now)

    def revoke_partitions(self, table: Any, tps: Any) -> None:
        super().revoke_partitions(table, tps)
        for tp in tps:
            if tp.topic in table.changelog_topic.topics:
                self._note_path(tp.partition).unlink(missing_ok=True)
                self._noted.pop(tp.partition, None)

    async def stop(self) -> None:
        now = time.time()
        for partition in list(self._dbs):
            self._write_note(partition, now)
        await super().stop()

    def _open_for_partition(self, partition: int) -> Any:
        path = self.partition_path(partition)
        if path.exists() and not self._trusted(partition):
            self.log.warning("table database of partition %r is not known to be current: wiped", partition)
            shutil.rmtree(path, ignore_errors=True)
        database = super()._open_for_partition(partition)
        self._write_note(partition, time.time())
        return database

    def _trusted(self, partition: int) -> bool:
        try:
            noted = float(self._note_path(partition).read_text())
        except (OSError, ValueError):
            return False
        return time.time() - noted < TRUSTED_FOR_SECONDS

    def _write_note(self, partition: int, now: float) -> None:
        note = self._note_path(partition)
        note.parent.mkdir(parents=True, exist_ok=True)
        note.write_text(f"{now}")
        self._noted[partition] = now

    def _note_path(self, partition: int) -> Path:
        path = self.partition_path(partition)
        return path.with_name(f"{path.name}.in-step")


STORES.aliases[SCHEME] = "streams.tables.synced_store:SyncedStore"
