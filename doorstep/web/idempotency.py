"""API writes go through the inbound log: recorded first, applied once per Idempotency-Key.

Routes read the raw body (so the exact bytes are recorded) and hand it to ``inbound.service.submit``;
``respond`` turns the outcome into the HTTP answer. ``json_body`` documents the body in OpenAPI.
"""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from doorstep.core.errors import Invalid
from doorstep.inbound import service as inbound_service
from doorstep.inbound.models import EventStatus
from doorstep.inbound.service import Outcome
from doorstep.web.deps import AppSettings, CurrentStore, Db
from doorstep.web.problems import from_error

_BODY_MODELS: dict[str, type[BaseModel]] = {}


def json_body(model: type[BaseModel], *, required: bool = True) -> dict[str, Any]:
    """``openapi_extra`` for a route that reads its JSON body raw."""
    _BODY_MODELS[model.__name__] = model
    return {
        "requestBody": {
            "required": required,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}},
        }
    }


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name, model in _BODY_MODELS.items():
            model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(model_schema.pop("$defs", {}))
            components[name] = model_schema
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def respond(outcome: Outcome, instance: str) -> Response:
    headers = {"X-Doorstep-Event": outcome.event_id}
    if outcome.status is EventStatus.rejected:
        error = outcome.error or Invalid(
            outcome.reason or "the request could not be applied", problems=outcome.problems
        )
        response = from_error(error, instance)
        response.headers.update(headers)
        return response
    if outcome.status is EventStatus.duplicate:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(outcome.response_body, status_code=outcome.response_status or 200, headers=headers)


def submit_write(
    request: Request, db: Db, settings: AppSettings, store: CurrentStore, topic: str, body: bytes,
    key: str | None, **params: str,
) -> Response:  # fmt: skip
    """Record the raw request in the inbound log, apply it once, and answer with its outcome."""
    sub = inbound_service.Submission(
        store_id=store.id, source="api", topic=topic, body=body, headers=dict(request.headers),
        params=params, idempotency_key=key,
    )  # fmt: skip
    outcome = inbound_service.submit(db, sub, wait_seconds=settings.api.idempotency_wait_seconds)
    return respond(outcome, request.url.path)
