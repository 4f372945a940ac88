"""How the tables are kept on a worker's disk: RocksDB (through rocksdict), sized for a bounded memory.

faust opens one database per table and partition, each with its own block cache and write buffers, so
the sizes here are per database: a worker owning 8 partitions of 3 tables has 24 of them. RocksDB's
defaults (a 2 GB cache and three 64 MB write buffers each) would let memory grow with the data; these
keep it to tens of MB per database, and the data itself on disk.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from rocksdict import Options, Rdict

from config.settings import Settings

MB = 1024 * 1024
WRITE_BUFFER_MB = 4  # what a database writes in memory before flushing to a file
WRITE_BUFFERS = 2


def rocksdb_options(settings: Settings) -> dict[str, Any]:
    """The `options` faust passes to its RocksDB store for each table."""
    return {
        "driver": "rocksdict",
        "block_cache_size": settings.table_cache_mb * MB,
        "block_cache_compressed_size": 0,
        "write_buffer_size": WRITE_BUFFER_MB * MB,
        "max_write_buffer_number": WRITE_BUFFERS,
        "target_file_size_base": 16 * MB,
        "max_open_files": 256,
    }


def fresh_database(path: Path) -> Rdict:
    """An empty database for derived state (the schedulers' indexes, the customers' alarms): whatever a
    previous process left there is stale, since they are rebuilt from the tables after every rebalance."""
    shutil.rmtree(path, ignore_errors=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    options = Options(raw_mode=True)
    options.create_if_missing(True)
    options.set_write_buffer_size(WRITE_BUFFER_MB * MB)
    options.set_max_write_buffer_number(WRITE_BUFFERS)
    return Rdict(str(path), options=options)
