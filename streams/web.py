"""HTTP pages served by the worker (faust's web server)."""

from __future__ import annotations

from typing import Any

from streams.service import RetentionService


def register_pages(app: Any, service: RetentionService) -> None:
    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
        body = {
            "status": "ready" if service.ready else "starting",
            "partitions": service.partitions,
            "deadlines_tracked": len(service.scheduler.index),
            "deletions_outstanding": service.deleter.outstanding,
            "deletion_failures_total": service.deleter.failures_total,
            "legal_holds_outstanding": service.legal_holds.outstanding,
        }
        return web.json(body, status=200 if service.ready else 503)
