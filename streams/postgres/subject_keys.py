"""Opening the archive's audit records: their personal fields with the keys still alive in
`subject_keys` (copied from the worker's table by the projector), the rest shown erased.

A key past its `ends_at` is not used even before the worker's destruction reaches the archive (the
worker may be down at that moment): what the schedule says has ended stays closed."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from typing import Any

import psycopg

from streams.protection.sealing import reveal


def kids_of(documents: Iterable[Mapping[str, Any]]) -> set[str]:
    return {
        part["kid"]
        for document in documents
        for part in (document.get("encrypted") or {}).values()
        if isinstance(part, dict) and part.get("kid")
    }


async def live_keys(conn: psycopg.AsyncConnection[Any], kids: set[str]) -> dict[str, bytes]:
    if not kids:
        return {}
    cursor = await conn.execute(
        "SELECT kid, key FROM subject_keys WHERE kid = ANY(%s) AND key IS NOT NULL AND ends_at > now()",
        (sorted(kids),),
    )
    return {kid: base64.b64decode(key) for kid, key in await cursor.fetchall()}


async def opened(conn: psycopg.AsyncConnection[Any], records: Iterable[Any]) -> list[dict[str, Any]]:
    """The records (jsonb values, or their text) as readers show them."""
    documents = [r if isinstance(r, dict) else json.loads(r) for r in records]
    keys = await live_keys(conn, kids_of(documents))
    return [reveal(d, keys) for d in documents]


# The subject keys of a customer (every partition's, every generation's), for finding their records.
CUSTOMER_KIDS = (
    "SELECT kid FROM subject_keys WHERE subject = 'customer' AND ref = %(ref)s AND kid IS NOT NULL"
)
CASE_KIDS = "SELECT kid FROM subject_keys WHERE case_ref = %(case_ref)s AND kid IS NOT NULL"
