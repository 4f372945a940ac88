"""Schema migrations, versioned in the repository (`migrations/NNNN_name.sql`), applied at start-up.

Every process that uses the database calls `migrate` first; an advisory lock makes the first one apply
what is missing while the others wait, and each migration runs in its own transaction with the row that
records it, so a crash leaves the schema at a version, never between two.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import psycopg
import structlog

log = structlog.get_logger(__name__)
MIGRATIONS = Path(__file__).with_name("migrations")
_LOCK = 0x7265_7465_6E74  # "retent": any fixed number, the same in every process
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations(folder: Path = MIGRATIONS) -> list[Migration]:
    found = []
    for path in sorted(folder.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise ValueError(f"{path.name}: a migration is named NNNN_name.sql")
        found.append(Migration(int(match[1]), match[2], path.read_text()))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise ValueError(f"migrations must be numbered 1, 2, 3 ... without gaps, found {versions}")
    return found


async def migrate(conninfo: str, folder: Path = MIGRATIONS) -> int:
    """Apply the migrations the database lacks; returns its schema version."""
    wanted = migrations(folder)
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK,))
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            cursor = await conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations")
            row = await cursor.fetchone()
            current = row[0] if row else 0
            if current > len(wanted):
                raise RuntimeError(
                    f"the database is at schema version {current}, newer than this code knows "
                    f"({len(wanted)}): run a newer release"
                )
            for migration in wanted[current:]:
                async with conn.transaction():
                    await conn.execute(migration.sql.encode("utf-8"))
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                        (migration.version, migration.name),
                    )
                log.info("database.migrated", version=migration.version, name=migration.name)
            return len(wanted)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK,))
