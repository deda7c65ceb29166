"""The ASGI app factory: one FastAPI app for the API, webhooks, pages, health and metrics."""

import time
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import Engine, text

import doorstep
from doorstep import migrate
from doorstep.config import Settings
from doorstep.core import metrics
from doorstep.db import make_engine, make_session_factory
from doorstep.inbound.api import router as events_router
from doorstep.orders.api import router as orders_router
from doorstep.shipments.api import router as shipments_router
from doorstep.stores.api import router as stores_router
from doorstep.web import problems
from doorstep.web.idempotency import install_openapi
from doorstep.web.limits import BodySizeLimit

DESCRIPTION = """
Doorstep's REST API. Authenticate with `Authorization: Bearer dsk_…` (create a key with
`doorstep keys create --store SLUG`). Send an `Idempotency-Key` header on every POST: a retry with the
same key and body returns the first answer; the same key with another body is a 409. Lists are newest
first with cursor pagination (`next_cursor`). Errors are RFC 9457 problem details whose `errors` name
each field and its fix. Money is integer minor units with an ISO 4217 currency.
"""


def create_app(settings: Settings, *, engine: Engine | None = None) -> FastAPI:
    engine = engine or make_engine(settings)
    app = FastAPI(
        title="Doorstep",
        version=doorstep.__version__,
        description=DESCRIPTION,
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    app.state.head_revision = migrate.head_revision()

    api = APIRouter(prefix="/api/v1")
    for router in (orders_router, shipments_router, stores_router, events_router):
        api.include_router(router)
    app.include_router(api)
    app.include_router(_operations_router())

    problems.install(app)
    install_openapi(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.api.max_body_bytes)

    @app.middleware("http")
    async def _measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        name = getattr(route, "path", "unmatched")
        metrics.HTTP_REQUESTS.labels(request.method, name, str(response.status_code)).inc()
        metrics.HTTP_LATENCY.labels(request.method, name).observe(time.perf_counter() - started)
        return response

    return app


def _operations_router() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz")
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @router.get("/readyz")
    def readyz(request: Request) -> JSONResponse:
        """The database answers and its schema is at the code's migration head."""
        engine: Engine = request.app.state.engine
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            current = migrate.current_revision(engine)
        except Exception as exc:  # readiness reports the failure instead of raising it
            return JSONResponse({"status": "unavailable", "reason": f"database: {type(exc).__name__}"}, 503)
        head = request.app.state.head_revision
        if current != head:
            return JSONResponse(
                {"status": "unavailable", "reason": f"schema at {current}, code expects {head}"}, 503
            )
        return JSONResponse({"status": "ready", "schema": current})

    @router.get("/metrics")
    def prometheus() -> PlainTextResponse:
        return PlainTextResponse(generate_latest().decode(), media_type=CONTENT_TYPE_LATEST)

    return router
