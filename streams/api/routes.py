"""The HTTP API's endpoints: one table says path, roles and bodies; the OpenAPI document is built from
it, so the document cannot drift from the code."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import datetime, timedelta

import structlog
from aiohttp import web

from config.settings import Role, Settings
from handlers.customer_rights import RequestAnswered
from handlers.erasure import Erasure
from handlers.events import HoldPlaced, HoldReleased
from handlers.state import AlarmState, Hold, Rule
from streams.api import archive_routes, handover
from streams.api.auth import Identity, sees
from streams.api.http import ApiContext, ApiError, Endpoint, identifier, read_body, reply
from streams.api.models import (
    AlarmView,
    AuditTrail,
    CustomerErasures,
    CustomerMedia,
    DeadLetters,
    ErasureView,
    HandoverAnswer,
    HandoverKey,
    HoldList,
    HoldState,
    HoldSubmitted,
    HoldView,
    MediaView,
    PlaceHold,
    ReleaseHold,
    RequestSubmitted,
    SubmitRequest,
    Summary,
    SweepReport,
    SweepStarted,
    UnconfirmedErasures,
)
from streams.postgres.archive_reader import ArchiveStatus
from streams.worker.projection import ActiveHold

# --- views of the state --------------------------------------------------------------------------------

log = structlog.get_logger(__name__)
ARCHIVE_STATUS_TIMEOUT = 1.0  # seconds the summary waits for the archive's lag before it says unknown


def hold_state(hold: Hold) -> HoldState:
    if hold.rejected_reason:
        state, reason = "rejected", hold.rejected_reason
    elif hold.dropped_at:
        state, reason = "dropped", None
    elif not hold.placed:
        state, reason = "release_only", None
    elif hold.released_at:
        state, reason = "released", None
    elif hold.expired_at:
        state, reason = "expired", None
    else:
        state, reason = "active", None
    return HoldState(
        hold_id=hold.hold_id,
        unit=hold.unit,
        case_reference=hold.case_reference,
        placed_by=hold.placed_by,
        placed_at=hold.placed_at,
        released_at=hold.released_at,
        released_by=hold.released_by,
        state=state,  # type: ignore[arg-type]
        reason=reason,
    )


def alarm_view(state: AlarmState, identity: Identity) -> AlarmView:
    """What the caller may see of the alarm: an operator all of it; a police liaison their unit's holds
    and the media's fate, never the customer or the object keys (they name the customer)."""
    operator = identity.role == "operator"
    holds = state.holds if operator else [h for h in state.holds if sees(identity, h)]
    return AlarmView(
        alarm_id=state.alarm_id,
        customer_id=state.customer_id if operator else None,
        triggered_at=state.triggered_at,
        deadline=state.deadline,
        rule=state.deadline_rule.value if state.deadline_rule else None,
        media=[
            MediaView(
                bucket=m.bucket,
                key=m.key if operator else None,
                status=m.status.value,
                deadline=m.due_at or state.deadline,
                rule=_rule_of(m.due_rule or state.deadline_rule),
                deleted_at=m.deleted_at,
                legal_hold=m.legal_hold,
            )
            for m in state.media
        ],
        holds=[hold_state(h) for h in holds],
        contract_ended_at=state.contract_ended_at if operator else None,
        erasure_requested_at=state.erasure_requested_at,
        restricted=state.restricted_at is not None,
        ended_at=state.ended_at,
        media_gone_at=state.media_gone_at,
    )


def _rule_of(rule: Rule | None) -> str | None:
    return rule.value if rule is not None else None


def hold_view(active: ActiveHold, now: datetime, warning: timedelta) -> HoldView:
    left = (active.expires_at - now).total_seconds()
    return HoldView(
        hold_id=active.hold.hold_id,
        alarm_id=active.alarm_id,
        case_reference=active.hold.case_reference,
        placed_by=active.hold.placed_by,
        requested_by=active.hold.requested_by,
        placed_at=active.hold.placed_at,
        expires_at=active.expires_at,
        seconds_left=round(left, 1),
        expiring_soon=left <= warning.total_seconds(),
    )


# --- handlers --------------------------------------------------------------------------------------------


async def place_hold(request: web.Request, identity: Identity | None, ctx: ApiContext) -> web.StreamResponse:
    assert identity is not None
    body: PlaceHold = await read_body(request, PlaceHold)
    hold_id = f"hold-{uuid.uuid4()}"
    event = HoldPlaced(
        type="hold.placed",
        event_id=str(uuid.uuid4()),
        hold_id=hold_id,
        alarm_id=body.alarm_id,
        case_reference=body.case_reference,
        placed_by=identity.name,
        placed_at=ctx.clock.now().isoformat(),  # type: ignore[arg-type]
        requested_by=body.requested_by,
        unit=identity.unit,
    )
    await ctx.publish_hold(body.alarm_id, ctx.signed(event))
    return await _answer(ctx, body.alarm_id, hold_id, event.event_id, released=False)


async def release_hold(
    request: web.Request, identity: Identity | None, ctx: ApiContext
) -> web.StreamResponse:
    assert identity is not None
    hold_id = identifier(request.match_info["hold_id"], "hold_id")
    body: ReleaseHold = await read_body(request, ReleaseHold, optional=True)
    alarm_id = await ctx.read.alarm_of_hold(hold_id) or body.alarm_id
    if alarm_id is None:
        raise ApiError(404, "unknown_hold", "no such hold is known; give alarm_id to release it anyway")
    state = await ctx.read.alarm(alarm_id)
    known = state.find_hold(hold_id) if state is not None else None
    if known is not None and known.placed and not sees(identity, known):
        # Another unit's hold: as if it did not exist (its existence is theirs to tell).
        raise ApiError(404, "unknown_hold", "no such hold is known; give alarm_id to release it anyway")
    event = HoldReleased(
        type="hold.released",
        event_id=str(uuid.uuid4()),
        hold_id=hold_id,
        alarm_id=alarm_id,
        released_by=identity.name,
        released_at=ctx.clock.now().isoformat(),  # type: ignore[arg-type]
        requested_by=body.requested_by,
    )
    await ctx.publish_hold(alarm_id, ctx.signed(event))
    return await _answer(ctx, alarm_id, hold_id, event.event_id, released=True)


async def _answer(
    ctx: ApiContext, alarm_id: str, hold_id: str, event_id: str, *, released: bool
) -> web.Response:
    """Wait briefly for the stream's answer, so the caller usually learns it at once."""
    give_up = time.monotonic() + ctx.settings.hold_answer_wait.total_seconds()
    while True:
        state = await ctx.read.alarm(alarm_id)
        hold = state.find_hold(hold_id) if state else None
        answer = _hold_answer(state, hold, released, ctx.settings) if state and hold else None
        if answer is not None:
            status, kept_until, reason = answer
            return reply(
                HoldSubmitted(
                    hold_id=hold_id,
                    alarm_id=alarm_id,
                    event_id=event_id,
                    status=status,  # type: ignore[arg-type]
                    kept_until=kept_until,
                    reason=reason,
                ),
                201,
            )
        if time.monotonic() > give_up:
            return reply(
                HoldSubmitted(hold_id=hold_id, alarm_id=alarm_id, event_id=event_id, status="submitted"), 202
            )
        await asyncio.sleep(0.05)


def _hold_answer(
    state: AlarmState, hold: Hold, released: bool, settings: Settings
) -> tuple[str, datetime | None, str | None] | None:
    if released:
        return ("released", None, None) if hold.released_at else None
    if not hold.placed:
        return None
    if hold.rejected_reason:
        return "rejected", None, hold.rejected_reason
    if hold.dropped_at:
        return "rejected", None, "dropped"
    if state.triggered_at is None:
        return "waiting_for_alarm", None, None
    return "accepted", state.triggered_at + settings.hold_retention, None


async def list_holds(request: web.Request, identity: Identity | None, ctx: ApiContext) -> web.StreamResponse:
    assert identity is not None
    now = ctx.clock.now()
    active = [h for h in await ctx.read.active_holds() if sees(identity, h.hold)]
    views = [hold_view(h, now, ctx.settings.hold_expiry_warning) for h in active]
    if request.query.get("expiring") in ("1", "true", "yes"):
        views = [v for v in views if v.expiring_soon]
    return reply(HoldList(holds=views))


async def _alarm_or_404(ctx: ApiContext, alarm_id: str) -> AlarmState:
    state = await ctx.read.alarm(alarm_id)
    if state is None:
        raise ApiError(404, "unknown_alarm", "no such alarm is known")
    return state


async def show_alarm(request: web.Request, identity: Identity | None, ctx: ApiContext) -> web.StreamResponse:
    assert identity is not None
    alarm_id = identifier(request.match_info["alarm_id"], "alarm_id")
    state = await _alarm_or_404(ctx, alarm_id)
    if identity.role == "police-liaison" and not any(sees(identity, h) for h in state.holds):
        raise ApiError(404, "unknown_alarm", "no such alarm is known")  # not one their unit holds
    return reply(alarm_view(state, identity))


async def alarm_audit(request: web.Request, identity: Identity | None, ctx: ApiContext) -> web.StreamResponse:
    alarm_id = identifier(request.match_info["alarm_id"], "alarm_id")
    records = await ctx.read.audit_of(alarm_id)
    if not records and await ctx.read.alarm(alarm_id) is None:
        raise ApiError(404, "unknown_alarm", "no such alarm is known")
    return reply(AuditTrail(alarm_id=alarm_id, records=records))


async def customer_media(
    request: web.Request, identity: Identity | None, ctx: ApiContext
) -> web.StreamResponse:
    assert identity is not None
    customer_id = identifier(request.match_info["customer_id"], "customer_id")
    states = await ctx.read.customer_alarms(customer_id)
    if not states:
        raise ApiError(404, "unknown_customer", "no media is known for this customer")
    return reply(CustomerMedia(customer_id=customer_id, alarms=[alarm_view(s, identity) for s in states]))


async def summary(request: web.Request, identity: Identity | None, ctx: ApiContext) -> web.StreamResponse:
    now = ctx.clock.now()
    read = ctx.read
    counts = await read.counts(now, ctx.settings.overdue_grace)
    erasures_open, erasures_unconfirmed = await read.erasure_counts()
    # The dashboard's figures name nobody: a hold by its alarm and time left, not its case or officers
    # (those are a read of personal data, GET /holds or /alarms/{id}, and go to the access log).
    holds = [
        hold_view(h, now, ctx.settings.hold_expiry_warning).model_copy(
            update={"case_reference": None, "placed_by": None, "requested_by": None}
        )
        for h in await read.active_holds()
    ]
    archive = await _archive_status(ctx)
    return reply(
        Summary(
            now=now,
            **counts,
            active_holds=len(holds),
            holds_expiring_soon=sum(1 for h in holds if h.expiring_soon),
            due_per_hour=await read.due_per_hour(now),
            upcoming=await read.upcoming(now),
            holds=holds,
            deadletters=await read.deadletters(10),
            projection_caught_up=await read.caught_up(),
            erasures_open=erasures_open,
            erasures_unconfirmed=erasures_unconfirmed,
            archive_configured=ctx.archive is not None,
            archive_lag_records=archive.lag_records if archive is not None else None,
            archive_measured_at=archive.measured_at if archive is not None else None,
        )
    )


async def _archive_status(ctx: ApiContext) -> ArchiveStatus | None:
    """The projector's last report, or None: the dashboard's figures never wait on the archive."""
    if ctx.archive is None:
        return None
    try:
        async with asyncio.timeout(ARCHIVE_STATUS_TIMEOUT):
            return await ctx.archive.status()
    except Exception as exc:  # not reachable, not migrated yet: the tile says unknown
        log.info("api.archive_status_unknown", error=type(exc).__name__)
        return None


def erasure_view(erasure: Erasure) -> ErasureView:
    fields = {name: getattr(erasure, name) for name in ErasureView.model_fields}
    return ErasureView(**fields)


async def customer_erasures(
    request: web.Request, identity: Identity | None, ctx: ApiContext
) -> web.StreamResponse:
    customer_id = identifier(request.match_info["customer_id"], "customer_id")
    record = await ctx.read.customer_record(customer_id)
    if record is None:
        raise ApiError(404, "unknown_customer", "no erasure is scheduled for this customer")
    return reply(
        CustomerErasures(customer_id=customer_id, erasures=[erasure_view(e) for e in record.erasures])
    )


async def unconfirmed_erasures(
    request: web.Request, identity: Identity | None, ctx: ApiContext
) -> web.StreamResponse:
    found = await ctx.read.unconfirmed_erasures()
    rows: list[dict[str, object]] = [
        {"customer_id": customer_id, **erasure_view(e).model_dump(mode="json")} for customer_id, e in found
    ]
    return reply(UnconfirmedErasures(erasures=rows))


async def submit_request(
    request: web.Request, identity: Identity | None, ctx: ApiContext
) -> web.StreamResponse:
    assert identity is not None
    customer_id = identifier(request.match_info["customer_id"], "customer_id")
    body: SubmitRequest = await read_body(request, SubmitRequest)
    request_id = str(uuid.uuid4())
    event = {
        "type": f"{body.kind}.requested",
        "event_id": str(uuid.uuid4()),
        "customer_id": customer_id,
        "request_id": request_id,
        "requested_at": ctx.clock.now().isoformat(),
        "requested_by": body.requested_by or identity.name,
    }
    await ctx.publish_request(customer_id, json.dumps(event).encode())
    give_up = time.monotonic() + ctx.settings.hold_answer_wait.total_seconds()
    while time.monotonic() < give_up:
        answer = await ctx.read.answer(request_id)
        if answer is not None:
            return reply(RequestSubmitted(request_id=request_id, customer_id=customer_id, kind=body.kind,
                                          status="answered", answer=answer), 201)  # fmt: skip
        await asyncio.sleep(0.05)
    return reply(
        RequestSubmitted(request_id=request_id, customer_id=customer_id, kind=body.kind, status="submitted",
                         answer=None), 202)  # fmt: skip


async def request_answer(
    request: web.Request, identity: Identity | None, ctx: ApiContext
) -> web.StreamResponse:
    answer = await ctx.read.answer(identifier(request.match_info["request_id"], "request_id"))
    if answer is None:
        raise ApiError(404, "unknown_request", "no answer to such a request (yet)")
    return reply(RequestAnswered.model_validate(answer))


async def deadletters(request: web.Request, identity: Identity | None, ctx: ApiContext) -> web.StreamResponse:
    return reply(DeadLetters(deadletters=await ctx.read.deadletters()))


async def start_sweep(request: web.Request, identity: Identity | None, ctx: ApiContext) -> web.StreamResponse:
    assert identity is not None
    sweep_id = await ctx.request_sweep(identity.name)
    detail = "the owner of partition 0 sweeps the media buckets; GET /api/v1/sweeps/latest for the result"
    return reply(SweepStarted(sweep_id=sweep_id, detail=detail), status=202)


async def latest_sweep(
    request: web.Request, identity: Identity | None, ctx: ApiContext
) -> web.StreamResponse:
    record = await ctx.read.last_sweep()
    if record is None:
        raise ApiError(404, "not_found", "no sweep has completed yet")
    details = dict(record.get("details", {}))
    fields = ("sweep_id", "requested_by", "status", "started_at", "finished_at", "error")
    known = {name: details.pop(name, None) for name in fields}
    return reply(
        SweepReport(
            **known,
            counts={name: int(value) for name, value in details.items()},
            findings=await ctx.read.sweep_findings(str(known["sweep_id"])),
        )
    )


LIAISON: frozenset[Role] = frozenset({"police-liaison"})
OPERATOR: frozenset[Role] = frozenset({"operator"})

ENDPOINTS: tuple[Endpoint, ...] = (
    *archive_routes.ENDPOINTS,
    Endpoint("POST", "/api/v1/holds", "Place a police hold on an alarm's media", LIAISON, place_hold,
             body=PlaceHold, response=HoldSubmitted, status=201),
    Endpoint("POST", "/api/v1/holds/{hold_id}/release", "Release a police hold", LIAISON, release_hold,
             body=ReleaseHold, response=HoldSubmitted, status=201),
    Endpoint("GET", "/api/v1/holds", "Active holds with their expiry (?expiring=true: within the warning)",
             frozenset({"police-liaison", "operator"}), list_holds, response=HoldList, personal=True),
    Endpoint("GET", "/api/v1/alarms/{alarm_id}", "An alarm's media, deadlines, holds and deletions",
             frozenset({"police-liaison", "operator"}), show_alarm, response=AlarmView, personal=True),
    Endpoint("GET", "/api/v1/alarms/{alarm_id}/audit", "The audit trail of an alarm",
             frozenset({"operator", "auditor"}), alarm_audit, response=AuditTrail, personal=True),
    Endpoint("GET", "/api/v1/customers/{customer_id}/media", "A customer's media and deadlines",
             OPERATOR, customer_media, response=CustomerMedia, personal=True),
    Endpoint("GET", "/api/v1/customers/{customer_id}/erasures",
             "A customer's erasure commands to other systems (R3-R8) and their status",
             frozenset({"operator", "auditor"}), customer_erasures, response=CustomerErasures,
             personal=True),
    Endpoint("GET", "/api/v1/erasures/unconfirmed", "Erasure commands sent and not confirmed in time",
             frozenset({"operator", "auditor"}), unconfirmed_erasures, response=UnconfirmedErasures,
             personal=True),
    Endpoint("POST", "/api/v1/customers/{customer_id}/requests",
             "The customer's request: access (and export), erasure of media, or restriction",
             OPERATOR, submit_request, body=SubmitRequest, response=RequestSubmitted, status=201,
             personal=True),
    Endpoint("GET", "/api/v1/requests/{request_id}", "The answer to a customer's request (request.answered)",
             OPERATOR, request_answer, response=RequestAnswered, personal=True),
    Endpoint("GET", "/api/v1/summary", "Figures for the dashboard", OPERATOR, summary, response=Summary),
    Endpoint("POST", "/api/v1/sweeps", "Sweep the media buckets now (see GET /api/v1/sweeps/latest)",
             OPERATOR, start_sweep, response=SweepStarted, status=202),
    Endpoint("GET", "/api/v1/sweeps/latest", "The last completed reconciliation sweep and its findings",
             frozenset({"operator", "auditor"}), latest_sweep, response=SweepReport, personal=True),
    Endpoint("GET", "/api/v1/deadletters", "The last dead-lettered records (reason and source only)",
             OPERATOR, deadletters, response=DeadLetters),
    Endpoint("POST", "/api/v1/holds/{hold_id}/handover",
             "Hand the hold's media over: a signed manifest (SHA-256 of every version) and download links",
             LIAISON, handover.handover, response=HandoverAnswer, status=201, personal=True),
    Endpoint("GET", "/api/v1/handover/key", "The public key handover manifests are signed with",
             None, handover.handover_key, response=HandoverKey),
)  # fmt: skip
