"""The ASGI app factory: one FastAPI app for the API, webhooks, pages, health and metrics."""

import swagger_ui_bundle  # type: ignore[import-untyped]
from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import Engine, text

import doorstep
from doorstep import migrate
from doorstep import schema as _every_model  # noqa: F401  (mappers need every table loaded)
from doorstep.channels.api import router as channels_router
from doorstep.config import Settings
from doorstep.db import make_engine, make_session_factory
from doorstep.flows.api import router as flows_router
from doorstep.inbound.api import hooks as hooks_router
from doorstep.inbound.api import router as events_router
from doorstep.jobs.api import router as jobs_router
from doorstep.message_templates.api import router as templates_router
from doorstep.messaging.api import router as messages_router
from doorstep.orders.api import router as orders_router
from doorstep.outbox.pages import router as outbox_router
from doorstep.portal import FIRST as portal_first
from doorstep.portal import returns as portal_returns
from doorstep.portal import router as portal_router
from doorstep.returns.api import router as returns_router
from doorstep.shipments.api import router as shipments_router
from doorstep.stores.api import router as stores_router
from doorstep.web import problems
from doorstep.web.idempotency import install_openapi
from doorstep.web.limits import BodySizeLimit
from doorstep.web.measure import RequestMetrics
from doorstep.webhooks.api import router as webhooks_router

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

    # Routes are matched in order: the few, hot shopper pages and health checks first, so a page view
    # does not try every API route before its own (FastAPI matches nested routers one by one, again at
    # each level). The tracking page sits at the top level itself: one regular expression.
    app.router.routes.extend(portal_first)
    app.include_router(_operations_router())
    app.include_router(portal_router)
    app.include_router(outbox_router)
    app.include_router(hooks_router)
    api = APIRouter(prefix="/api/v1")
    for router in (orders_router, shipments_router, stores_router, events_router):
        api.include_router(router)
    api.include_router(jobs_router)
    api.include_router(flows_router)
    api.include_router(messages_router)
    api.include_router(templates_router)
    api.include_router(channels_router)
    api.include_router(webhooks_router)
    api.include_router(returns_router)
    app.include_router(api)
    _serve_api_docs(app)

    problems.install(app)
    install_openapi(app)
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.api.max_body_bytes,
        uploads=(portal_returns.UPLOAD_PATHS, settings.portal.upload_max_request_bytes),
    )
    app.add_middleware(RequestMetrics)
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


def _operations_router() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
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
