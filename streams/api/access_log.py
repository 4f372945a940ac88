"""The access log: every API read of personal data, recorded (who, what, when, from where) on the
`retention-access-log` topic, which the projector copies into the archive for auditors.

What was read is named by the endpoint's path and its parameters; a customer id among them is
replaced by its pseudonym (the access log is kept a year, S7, longer than the customer's data may be),
so "who read customer X's data" is answered by computing X's pseudonym. An attempt that was refused
(403, 404) is recorded too: a liaison probing another unit's holds is what an auditor looks for.
The answer goes out only once its record is acknowledged: a read that cannot be recorded is refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from streams.protection.pseudonyms import Pseudonyms

Send = Callable[[bytes, bytes], Awaitable[None]]  # key, value; returns once the broker acknowledged it


class AccessRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str = "api.read"
    access_id: str
    at: datetime
    identity: str
    role: str
    unit: str | None
    client: str  # the address the request came from (as the server saw it: a proxy's, behind one)
    method: str
    endpoint: str  # the path template, e.g. /api/v1/alarms/{alarm_id}
    read: dict[str, str]  # the path's parameters: what was read (customer_id as a pseudonym)
    query: dict[str, str] = {}  # the query's, apart: it may never stand in for what was read
    status: int


class AccessLog:
    def __init__(self, send: Send, pseudonyms: Pseudonyms) -> None:
        self._send = send
        self._pseudonyms = pseudonyms
        self.recorded = 0

    async def record(
        self,
        *,
        at: datetime,
        identity: str,
        role: str,
        unit: str | None,
        client: str,
        method: str,
        endpoint: str,
        path: Mapping[str, str],
        query: Mapping[str, str],
        status: int,
    ) -> AccessRecord:
        entry = AccessRecord(
            access_id=str(uuid.uuid4()),
            at=at,
            identity=identity,
            role=role,
            unit=unit,
            client=client,
            method=method,
            endpoint=endpoint,
            read=self._hidden(path),
            query=self._hidden(query),
            status=status,
        )
        await self._send(identity.encode("utf-8"), entry.model_dump_json().encode("utf-8"))
        self.recorded += 1
        return entry

    def _hidden(self, parameters: Mapping[str, str]) -> dict[str, str]:
        # A NUL (a caller's query may carry one) is written as U+FFFD: JSON in PostgreSQL cannot hold it.
        return {
            _storable(name): _storable(self._pseudonyms.customer(value) if name == "customer_id" else value)
            for name, value in parameters.items()
        }


def _storable(text: str) -> str:
    return text.replace("\x00", "\ufffd")
