"""The access log's records: what was read named apart from the query, a customer as a pseudonym, and
nothing PostgreSQL's JSON cannot hold (a caller may send a NUL)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import get_args

from streams.api.access_log import AccessLog
from streams.projector.feed import _source_of
from streams.projector.rows import Row, Skipped
from streams.protection.pseudonyms import Pseudonyms


async def test_a_nul_in_a_query_is_recorded_as_a_replacement_character() -> None:
    sent: list[bytes] = []

    async def send(key: bytes, value: bytes) -> None:
        sent.append(value)

    log = AccessLog(send, Pseudonyms(b"k"))
    entry = await log.record(
        at=datetime.now(UTC), identity="ops", role="operator", unit=None, client="127.0.0.1", method="GET",
        endpoint="/api/v1/alarms/{alarm_id}", path={"alarm_id": "a1"}, query={"x\x00": "y\x00"}, status=200,
    )  # fmt: skip
    assert entry.query == {"x\ufffd": "y\ufffd"}
    assert "\\u0000" not in sent[0].decode()
    assert json.loads(sent[0])["read"] == {"alarm_id": "a1"}


def test_the_projector_knows_the_source_of_every_kind_of_row() -> None:
    """Its row-by-row fallback (a batch refused) names each row's source: a kind it does not know
    would stop the archive."""
    for kind in get_args(Row):
        if kind is Skipped or kind.__name__ == "Removed":
            continue
        fields = {name: None for name in kind.__dataclass_fields__}
        assert _source_of(kind(**fields))
