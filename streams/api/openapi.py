"""The OpenAPI 3.1 document, generated from the endpoint table and the pydantic models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from streams.api.models import Error, Health
from streams.api.routes import ENDPOINTS

_ERRORS = {
    "401": "No token, or not a valid one (repeated failures are answered more and more slowly)",
    "403": "The token's role may not do this",
    "404": "Not known",
    "422": "The body is not valid",
}


def openapi_document(version: str) -> dict[str, Any]:
    models: set[type[BaseModel]] = {m for e in ENDPOINTS for m in (e.body, e.response) if m is not None}
    models |= {Error, Health}
    mode: JsonSchemaMode = "validation"
    refs, schemas = models_json_schema(
        [(m, mode) for m in sorted(models, key=lambda m: m.__name__)],
        ref_template="#/components/schemas/{model}",
    )

    def ref(model: Any) -> dict[str, Any]:
        return refs[(model, "validation")]

    paths: dict[str, Any] = {
        "/health": {
            "get": {
                "summary": "Whether the worker is ready, and its queues",
                "responses": {"200": _json(ref(Health), "ready"), "503": _json(ref(Health), "starting")},
            }
        },
        "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text"}}}},
    }
    for endpoint in ENDPOINTS:
        operation: dict[str, Any] = {
            "summary": endpoint.summary,
            "security": [{"bearer": []}],
            "x-roles": sorted(endpoint.roles or []),
            "responses": {str(endpoint.status): _json(ref(endpoint.response), "success")},
        }
        if endpoint.status == 201:
            operation["responses"]["202"] = _json(
                ref(endpoint.response), "submitted; the answer is not in yet"
            )
        for code, text in _ERRORS.items():
            operation["responses"][code] = _json(ref(Error), text)
        parameters = [part[1:-1] for part in endpoint.path.split("/") if part.startswith("{")]
        if parameters:
            operation["parameters"] = [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in parameters
            ]
        if endpoint.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref(endpoint.body)}},
            }
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Alarm media retention",
            "version": version,
            "description": "Police holds, alarm and customer media, the audit trail. Bearer tokens with "
            "roles police-liaison, operator and auditor.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}
