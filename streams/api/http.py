"""What every endpoint module shares: the context handlers get, the endpoint table's row, errors,
replies and request bodies."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import BaseModel, TypeAdapter, ValidationError

from config.settings import Role, Settings
from handlers.events import Identifier
from handlers.signing import sign
from streams.api.access_log import AccessLog
from streams.api.auth import Identity
from streams.clock import Clock
from streams.postgres.archive_reader import ArchiveReader
from streams.s3.evidence import EvidenceStore
from streams.worker.read_model import ReadModel

PublishHold = Callable[[str, bytes], Awaitable[None]]


@dataclass
class ApiContext:
    settings: Settings
    read: ReadModel  # the state of every alarm and customer (the archive, or this worker's own model)
    clock: Clock
    publish_hold: PublishHold
    health: Callable[[], dict[str, Any]]
    request_sweep: Callable[[str], Awaitable[str]]
    publish_request: PublishHold
    archive: ArchiveReader | None = None  # the archive in PostgreSQL (DATABASE_URL), if configured
    access_log: AccessLog | None = None  # where reads of personal data are recorded
    evidence: EvidenceStore | None = None  # the object store, for handovers to the police
    # A message to the partition of this alarm on the internal topic, acknowledged before it returns.
    publish_internal: PublishHold | None = None

    def signed(self, event: BaseModel) -> bytes:
        """The event as JSON, signed with the API's hold key when keys are configured."""
        document = event.model_dump(mode="json", exclude_none=True)
        key = self.settings.api_signing_key()
        if key is not None:
            document = sign(document, *key)
        return json.dumps(document).encode()


Handler = Callable[[web.Request, Identity | None, ApiContext], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    summary: str
    roles: frozenset[Role] | None  # None: public
    handler: Handler
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    personal: bool = False  # it shows personal data: every call is recorded in the access log


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail


_IDENTIFIER: TypeAdapter[str] = TypeAdapter(Identifier)


def identifier(value: str, name: str) -> str:
    """A path parameter that goes into an event: the same rules as the event's field."""
    try:
        return _IDENTIFIER.validate_python(value)
    except ValidationError:
        raise ApiError(
            422, "invalid_path", f"{name}: 1 to 200 printable ASCII characters without spaces"
        ) from None


def reply(model: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(text=model.model_dump_json(), status=status)


async def read_body(request: web.Request, model: type[BaseModel], *, optional: bool = False) -> Any:
    raw = await request.read()
    if not raw and optional:
        return model()
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False)
        )
        raise ApiError(422, "invalid_body", problems) from None
