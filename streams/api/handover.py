"""Handing a hold's media over to its police unit (issue 18): a signed manifest of every version of every
object the hold keeps (bucket, key, version id, size, SHA-256 computed here from the bytes, the alarm's
time) and a short-lived download link for each. The handover is a disclosure: it is recorded (the
alarm's partition writes `media.disclosed`, streams/worker/service.py) before the links are given.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid

from aiohttp import web

from handlers.commands import DisclosedObject, MediaDisclosed
from handlers.state import MediaStatus
from streams.api.auth import Identity, sees
from streams.api.http import ApiContext, ApiError, identifier, reply
from streams.api.models import HandoverAnswer, HandoverKey, HandoverLink
from streams.protection.handover_signing import canonical, private_key, public_key_text, sign


async def handover(request: web.Request, identity: Identity | None, ctx: ApiContext) -> web.StreamResponse:
    assert identity is not None
    hold_id = identifier(request.match_info["hold_id"], "hold_id")
    if ctx.evidence is None or ctx.settings.handover_signing_key is None:
        raise ApiError(503, "no_handover", "handovers need HANDOVER_SIGNING_KEY and the object store here")
    alarm_id = await ctx.read.alarm_of_hold(hold_id)
    state = await ctx.read.alarm(alarm_id) if alarm_id else None
    hold = state.find_hold(hold_id) if state is not None else None
    if state is None or hold is None or not hold.placed or not sees(identity, hold):
        raise ApiError(404, "unknown_hold", "no such hold is known")
    if not hold.active:
        why = "released" if hold.released_at else "expired" if hold.expired_at else "not active"
        raise ApiError(409, "hold_not_active", f"the hold is {why}: its media is not handed over any more")
    limit = state.triggered_at + ctx.settings.hold_retention if state.triggered_at else None
    if limit is None or ctx.clock.now() >= limit:
        # R2: past the hold limit the media may not exist, whatever the read model says yet.
        raise ApiError(409, "hold_not_active", "the hold is past its limit: its media is not handed over")
    held = [m for m in state.media if m.status is MediaStatus.PENDING]
    if not held:
        raise ApiError(409, "media_gone", "none of the hold's media is left to hand over")
    if ctx.publish_internal is None:
        raise ApiError(503, "no_handover", "this API cannot record a disclosure")
    evidence = ctx.evidence
    versions: list[DisclosedObject] = []
    for media in held:
        for version in await asyncio.to_thread(evidence.versions, media.bucket, media.key):
            digest, size = await asyncio.to_thread(
                evidence.sha256, media.bucket, media.key, version.version_id
            )
            versions.append(
                DisclosedObject(
                    bucket=media.bucket,
                    key=media.key,
                    version_id=version.version_id,
                    size=size,
                    sha256=digest,
                )
            )
    if not versions:
        raise ApiError(409, "media_gone", "none of the hold's media is left in the store")
    # The links are made once everything is hashed, and live no longer than the hold may keep the media.
    now = ctx.clock.now()
    ttl = min(ctx.settings.handover_link_ttl, limit - now)
    if ttl.total_seconds() < 1:
        raise ApiError(409, "hold_not_active", "the hold reached its limit: its media is not handed over")
    links = [
        HandoverLink(
            bucket=v.bucket,
            key=v.key,
            version_id=v.version_id,
            url=await asyncio.to_thread(evidence.link, v.bucket, v.key, v.version_id, ttl),
        )
        for v in versions
    ]
    alarm_at = state.triggered_at.isoformat() if state.triggered_at else None
    handover_id = str(uuid.uuid4())
    manifest: dict[str, object] = {
        "handover_id": handover_id,
        "hold_id": hold_id,
        "alarm_id": state.alarm_id,
        "case_reference": hold.case_reference,
        "unit": hold.unit,
        "requested_by": identity.name,
        "created_at": now.isoformat(),
        "links_expire_at": (now + ttl).isoformat(),
        "objects": [{**v.model_dump(), "alarm_at": alarm_at} for v in versions],
    }
    key = private_key(ctx.settings.handover_signing_key.get_secret_value())
    signature = sign(key, manifest)
    recorded = MediaDisclosed(
        event_id=handover_id,
        alarm_id=state.alarm_id,
        hold_id=hold_id,
        unit=hold.unit,
        requested_by=identity.name,
        customer_id=state.customer_id,
        case_reference=hold.case_reference,
        objects=tuple(versions),
        manifest_sha256=hashlib.sha256(canonical(manifest)).hexdigest(),
        disclosed_at=now,
    )
    # Recorded before the links are given: a handover nobody can see in the audit trail never happens.
    await ctx.publish_internal(state.alarm_id, recorded.model_dump_json().encode("utf-8"))
    return reply(HandoverAnswer(manifest=manifest, signature=signature, links=links), 201)


async def handover_key(
    request: web.Request, identity: Identity | None, ctx: ApiContext
) -> web.StreamResponse:
    if ctx.settings.handover_signing_key is None:
        raise ApiError(404, "no_handover_key", "this service signs no handovers (HANDOVER_SIGNING_KEY)")
    key = private_key(ctx.settings.handover_signing_key.get_secret_value())
    return reply(HandoverKey(algorithm="Ed25519", public_key=public_key_text(key)))
