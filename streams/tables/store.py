"""How the tables are kept on a worker's disk: RocksDB (through rocksdict), sized for a bounded memory.

faust opens one database per table and partition, each with its own block cache and write buffers, so
the sizes here are per database: a worker owning 8 partitions of 3 tables has 24 of them. RocksDB's
defaults (a 2 GB cache and three 64 MB write buffers each) would let memory grow with the data; these
keep it to tens of MB per database, and the data itself on disk.
"""

from __future__ import annotations

from typing import Any

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
