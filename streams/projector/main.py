"""`python -m streams projector`: the archive's writer, a process of its own.

It migrates the schema, then copies the topics into PostgreSQL (streams/projector/feed.py) and removes
archive rows whose time has come, and serves /metrics and /health on PROJECTOR_WEB_PORT. Run one per
deployment (a second one would write the same rows again, harmlessly, and double the load).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import structlog
from aiohttp import web

from config.settings import Settings
from streams.kafka.security import client_options
from streams.kafka.topology import changelog_topics
from streams.postgres.archive_writer import open_archive
from streams.postgres.migrate import migrate
from streams.projector.feed import Progress, ProjectorFeed
from streams.projector.metrics import metrics_text
from streams.projector.rows import Kept, Source

log = structlog.get_logger(__name__)


def projected_topics(settings: Settings) -> dict[str, Source]:
    alarms, _, customers, keys = changelog_topics(settings)
    names = settings.topics
    return {
        names.audit: Source.AUDIT,
        names.deadletter: Source.DEADLETTER,
        names.request_outcomes: Source.ANSWERS,
        alarms: Source.ALARM_STATES,
        customers: Source.CUSTOMER_RECORDS,
        keys: Source.SUBJECT_KEYS,
        names.access_log: Source.ACCESS_LOG,
    }


async def run_projector(settings: Settings) -> None:
    assert settings.database_url is not None
    conninfo = settings.database_url.get_secret_value()
    version = await migrate(conninfo)
    log.info("projector.starting", schema_version=version, web_port=settings.projector_web_port)
    progress = Progress()
    kept = Kept(
        audit=settings.audit_retention,
        deadletter=settings.deadletter_retention,
        answers=settings.transit_retention,
        access_log=settings.access_log_kept,
    )
    # Fetches as short as the worker's: on Tansu a fetch answers only when its wait runs out, and the
    # API reads what the projector wrote (a hold's answer, within HOLD_ANSWER_WAIT).
    options = {
        **client_options(settings),
        "fetch_max_wait_ms": int(settings.kafka_fetch_max_wait.total_seconds() * 1000),
    }
    feed = ProjectorFeed(lambda: open_archive(conninfo), options, projected_topics(settings), kept, progress)
    runner = web.AppRunner(_web_app(progress))
    await runner.setup()
    await web.TCPSite(runner, settings.web_host, settings.projector_web_port).start()
    try:
        await asyncio.gather(feed.run(), _forget_due(conninfo, settings, progress))
    finally:
        await runner.cleanup()


async def _forget_due(conninfo: str, settings: Settings, progress: Progress) -> None:
    interval = settings.archive_forget_interval.total_seconds()
    while True:
        try:
            async with open_archive(conninfo) as writer:
                while True:
                    forgotten = await writer.forget_due(datetime.now(UTC))
                    progress.count(progress.forgotten, forgotten)
                    if any(forgotten.values()):
                        log.info("archive.forgot", **forgotten)
                    await asyncio.sleep(interval)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database went away: try again at the next interval
            log.warning("archive.forget_failed", reason=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(interval)


def _web_app(progress: Progress) -> web.Application:
    async def metrics(request: web.Request) -> web.Response:
        return web.Response(text=metrics_text(progress), content_type="text/plain", charset="utf-8")

    async def health(request: web.Request) -> web.Response:
        ready = progress.caught_up and progress.problem is None
        body = {
            "status": "ready" if ready else ("degraded" if progress.problem else "starting"),
            "problem": progress.problem,
            "lag_records": sum(progress.lag.values()),
        }
        return web.json_response(body, status=200 if ready else 503)

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/health", health)
    return app


def main(settings: Settings) -> int:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_projector(settings))
    return 0
