"""The archive's endpoints: the audit trail in PostgreSQL, complete for as long as AUDIT_RETENTION
keeps it, for the questions an auditor or the data protection officer asks years later."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import asdict

from aiohttp import web

from config.settings import Role
from streams.api.auth import Identity
from streams.api.http import ApiContext, ApiError, Endpoint, identifier, reply
from streams.api.models import AccessLogEntry, AccessLogPage, ArchivePage, CaseHolds, CaseHoldView
from streams.postgres.archive_reader import ArchiveReader, Page


def _archive(ctx: ApiContext) -> ArchiveReader:
    if ctx.archive is None:
        raise ApiError(503, "no_archive", "the archive is not configured here (DATABASE_URL)")
    return ctx.archive


def _paging(request: web.Request) -> tuple[str | None, int]:
    try:
        limit = int(request.query.get("limit", "100"))
    except ValueError:
        raise ApiError(422, "invalid_query", "limit: a whole number from 1 to 1000") from None
    if not 1 <= limit <= 1000:
        raise ApiError(422, "invalid_query", "limit: a whole number from 1 to 1000")
    return request.query.get("cursor"), limit


def _page(page: Page) -> web.Response:
    return reply(ArchivePage(records=page.records, next_cursor=page.next_cursor))


async def _read(read: Awaitable[Page]) -> Page:
    try:
        return await read
    except ValueError as exc:  # a cursor this API did not give
        raise ApiError(422, "invalid_query", f"cursor: {exc}") from None


async def customer_deletions(
    request: web.Request, identity: Identity | None, ctx: ApiContext
) -> web.Response:
    customer_id = identifier(request.match_info["customer_id"], "customer_id")
    cursor, limit = _paging(request)
    return _page(await _read(_archive(ctx).deletions_of_customer(customer_id, cursor, limit)))


async def customer_trail(request: web.Request, identity: Identity | None, ctx: ApiContext) -> web.Response:
    customer_id = identifier(request.match_info["customer_id"], "customer_id")
    cursor, limit = _paging(request)
    return _page(await _read(_archive(ctx).trail_of_customer(customer_id, cursor, limit)))


async def alarm_trail(request: web.Request, identity: Identity | None, ctx: ApiContext) -> web.Response:
    alarm_id = identifier(request.match_info["alarm_id"], "alarm_id")
    cursor, limit = _paging(request)
    return _page(await _read(_archive(ctx).trail_of_alarm(alarm_id, cursor, limit)))


async def case_holds(request: web.Request, identity: Identity | None, ctx: ApiContext) -> web.Response:
    case_reference = request.match_info["case_reference"]
    if not 1 <= len(case_reference) <= 500 or not case_reference.isprintable():
        raise ApiError(422, "invalid_path", "case_reference: 1 to 500 printable characters")
    assert identity is not None
    holds = await _archive(ctx).holds_in_case(case_reference)
    if identity.role == "police-liaison":  # their unit's holds only
        holds = [h for h in holds if h.unit is not None and h.unit == identity.unit]
    views = [CaseHoldView.model_validate(asdict(h)) for h in holds]
    return reply(CaseHolds(case_reference=case_reference, holds=views))


async def access_log(request: web.Request, identity: Identity | None, ctx: ApiContext) -> web.Response:
    customer_id = request.query.get("customer_id")
    who = request.query.get("identity")
    if customer_id is not None:
        identifier(customer_id, "customer_id")
    _, limit = _paging(request)
    entries = await _archive(ctx).access_log(customer_id, who, limit)
    return reply(AccessLogPage(entries=[AccessLogEntry.model_validate(e) for e in entries]))


READERS: frozenset[Role] = frozenset({"operator", "auditor"})
ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/api/v1/archive/customers/{customer_id}/deletions",
             "Every deletion of a customer's data: media and erasures confirmed (?cursor=&limit=)",
             READERS, customer_deletions, response=ArchivePage, personal=True),
    Endpoint("GET", "/api/v1/archive/customers/{customer_id}/audit",
             "Every audit record about a customer (?cursor=&limit=)", READERS, customer_trail,
             response=ArchivePage, personal=True),
    Endpoint("GET", "/api/v1/archive/alarms/{alarm_id}/audit",
             "Every audit record of an alarm, however many (?cursor=&limit=)", READERS, alarm_trail,
             response=ArchivePage, personal=True),
    Endpoint("GET", "/api/v1/archive/cases/{case_reference}/holds",
             "Every hold placed in a police case, and how and when it ended",
             frozenset({"operator", "auditor", "police-liaison"}), case_holds, response=CaseHolds,
             personal=True),
    Endpoint("GET", "/api/v1/access-log",
             "Who read which personal data through the API, newest first (?customer_id=&identity=&limit=)",
             frozenset({"auditor"}), access_log, response=AccessLogPage, personal=True),
)  # fmt: skip
