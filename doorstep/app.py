"""The ASGI app factory: one FastAPI app for the API, webhooks, pages, health and metrics."""

import re
import time
from collections.abc import Awaitable, Callable

import swagger_ui_bundle  # type: ignore[import-untyped]
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import Engine, text
from starlette.routing import compile_path

import doorstep
from doorstep import migrate
from doorstep import schema as _every_model  # noqa: F401  (mappers need every table loaded)
from doorstep.config import Settings
from doorstep.core import metrics
from doorstep.db import make_engine, make_session_factory
from doorstep.inbound.api import hooks as hooks_router
from doorstep.inbound.api import router as events_router
from doorstep.jobs.api import router as jobs_router
from doorstep.orders.api import router as orders_router
from doorstep.portal import router as portal_router
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
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    app.state.head_revisions = migrate.head_revisions()

    api = APIRouter(prefix="/api/v1")
    for router in (orders_router, shipments_router, stores_router, events_router):
        api.include_router(router)
    api.include_router(jobs_router)
    app.include_router(api)
    app.include_router(hooks_router)
    app.include_router(portal_router)
    app.include_router(_operations_router())
    _serve_api_docs(app)

    problems.install(app)
    install_openapi(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.api.max_body_bytes)

    @app.middleware("http")
    async def _measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        name = _route_template(app, request.url.path) if request.scope.get("route") else "unmatched"
        metrics.HTTP_REQUESTS.labels(request.method, name, str(response.status_code)).inc()
        metrics.HTTP_LATENCY.labels(request.method, name).observe(time.perf_counter() - started)
        return response

    return app


def _serve_api_docs(app: FastAPI) -> None:
    """Swagger UI from the installed swagger-ui-bundle: the docs page makes no third-party requests."""
    app.mount(
        "/api/docs-assets", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs-assets"
    )

    @app.get("/api/docs", include_in_schema=False)
    def api_docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/api/openapi.json",
            title="Doorstep API",
            swagger_js_url="/api/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/api/docs-assets/swagger-ui.css",
            swagger_favicon_url="/api/docs-assets/favicon-32x32.png",
        )


def _route_template(app: FastAPI, path: str) -> str:
    """The route's template (``/api/v1/orders/{order_id}``) so metric labels stay few and meaningful."""
    templates: list[tuple[re.Pattern[str], str]] | None = getattr(app.state, "route_templates", None)
    if templates is None:
        templates = [(compile_path(p)[0], p) for p in app.openapi()["paths"]]
        app.state.route_templates = templates
    return next((template for pattern, template in templates if pattern.match(path)), "other")


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
            current = migrate.current_revisions(engine)
        except Exception as exc:  # readiness reports the failure instead of raising it
            return JSONResponse({"status": "unavailable", "reason": f"database: {type(exc).__name__}"}, 503)
        head = request.app.state.head_revisions
        if current != head:
            reason = f"schema at {sorted(current)}, code expects {sorted(head)}: run doorstep migrate"
            return JSONResponse({"status": "unavailable", "reason": reason}, 503)
        return JSONResponse({"status": "ready", "schema": sorted(current)})

    @router.get("/metrics")
    def prometheus() -> PlainTextResponse:
        return PlainTextResponse(generate_latest().decode(), media_type=CONTENT_TYPE_LATEST)

    return router
