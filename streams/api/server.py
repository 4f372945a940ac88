"""The worker's HTTP server: the API, the dashboard, /metrics, /health and the two contract documents."""

from __future__ import annotations

import asyncio
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams.api.asyncapi import asyncapi_document
from streams.api.auth import Authenticator, FailedAttempts, Identity
from streams.api.http import ApiContext, ApiError, Endpoint
from streams.api.openapi import openapi_document
from streams.api.routes import ENDPOINTS
from streams.worker.metrics import Metrics

log = structlog.get_logger(__name__)
STATIC = Path(__file__).parent / "static"


def _version() -> str:
    try:
        return version("alarm-media-retention")
    except PackageNotFoundError:
        return "0.0.0"


def _error(status: int, error: str, detail: str) -> web.Response:
    return web.json_response({"error": error, "detail": detail}, status=status)


@web.middleware
async def json_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)  # type: ignore[no-any-return]
    except ApiError as exc:
        return _error(exc.status, exc.error, exc.detail)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _error(exc.status, exc.reason.lower().replace(" ", "_"), exc.text or exc.reason)
    except Exception as exc:
        # The route, not the path: a path names the customer or the alarm it reads.
        route = request.match_info.route.resource.canonical if request.match_info.route.resource else "?"
        log.exception("api.failed", route=route, error=type(exc).__name__)
        return _error(500, "internal_error", "the request failed; see the worker's log")


def build_web_app(ctx: ApiContext, metrics: Metrics) -> web.Application:
    authenticator = Authenticator(ctx.settings.all_api_tokens())
    failures = FailedAttempts()
    app = web.Application(middlewares=[json_errors], client_max_size=64 * 1024)

    def guarded(endpoint: Endpoint) -> Any:
        async def handle(request: web.Request) -> web.StreamResponse:
            if endpoint.roles is None:  # public: it shows nothing of anyone (a public key)
                return await endpoint.handler(request, None, ctx)
            identity = authenticator.identify(request.headers.get("Authorization"))
            if identity is None:
                delay = failures.record(request.remote or "unknown")
                if delay:
                    await asyncio.sleep(delay)
                log.warning("api.unauthorized", route=endpoint.path, delayed_seconds=delay)
                return _error(401, "unauthorized", "send 'Authorization: Bearer <token>' with a valid token")
            response: web.StreamResponse
            if endpoint.roles is not None and identity.role not in endpoint.roles:
                allowed = ", ".join(sorted(endpoint.roles))
                response = _error(403, "forbidden", f"role {identity.role} may not do this; needs: {allowed}")
            else:
                structlog.contextvars.bind_contextvars(api_identity=identity.name)
                try:
                    response = await endpoint.handler(request, identity, ctx)
                except ApiError as exc:
                    response = _error(exc.status, exc.error, exc.detail)
                finally:
                    structlog.contextvars.unbind_contextvars("api_identity")
            if endpoint.personal and not await recorded(request, endpoint, identity, response.status):
                return _error(503, "access_log_unavailable", "the read could not be recorded; try again")
            return response

        return handle

    async def recorded(request: web.Request, endpoint: Endpoint, identity: Identity, status: int) -> bool:
        """Every call of an endpoint that shows personal data goes to the access log first."""
        if ctx.access_log is None:
            return True
        try:
            await ctx.access_log.record(
                at=ctx.clock.now(),
                identity=identity.name,
                role=identity.role,
                unit=identity.unit,
                client=request.remote or "unknown",
                method=request.method,
                endpoint=endpoint.path,
                path=dict(request.match_info),
                query=dict(request.query),
                status=status,
            )
        except Exception as exc:
            log.warning("api.access_log_failed", path=endpoint.path, error=type(exc).__name__)
            return False
        return True

    for endpoint in ENDPOINTS:
        app.router.add_route(endpoint.method, endpoint.path, guarded(endpoint))

    documents = {
        "openapi": openapi_document(_version()),
        "asyncapi": asyncapi_document(_version(), ctx.settings.topics),
    }

    async def health(request: web.Request) -> web.Response:
        body = ctx.health()
        # Degraded is still alive and working on it: 200, so nothing restarts a worker that is retrying.
        return web.json_response(body, status=503 if body["status"] == "starting" else 200)

    async def prometheus(request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def openapi(request: web.Request) -> web.Response:
        return web.json_response(documents["openapi"])

    async def asyncapi(request: web.Request) -> web.Response:
        return web.json_response(documents["asyncapi"])

    async def dashboard(request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html")

    app.router.add_get("/health", health)
    app.router.add_get("/metrics", prometheus)
    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/asyncapi.json", asyncapi)
    app.router.add_get("/", dashboard)
    app.router.add_static("/static/", STATIC)
    return app


async def serve(app: web.Application, host: str, port: int) -> None:
    """Serve until cancelled."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    log.info("api.listening", url=f"http://{host}:{port}/")
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
