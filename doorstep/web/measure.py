"""A pure-ASGI middleware counting requests and timing them per route template, for ``/metrics``.

Pure ASGI rather than ``@app.middleware("http")``: Starlette's ``BaseHTTPMiddleware`` wraps every response
in a stream and a task group, which costs more than a small route itself. The label is the matched route's
template (``/api/v1/orders/{order_id}``), read from the scope after routing, so labels stay few.
"""

import re
import time
from typing import Any

from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from doorstep.core import metrics


class RequestMetrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._templates: dict[int, str] = {}  # id(route) → its full template
        self._documented: list[tuple[re.Pattern[str], str]] | None = None

    def _template(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is None:
            return "unmatched"
        known = self._templates.get(id(route))
        if known is not None:
            return known
        # A route of an included router knows only its own part (``/orders/{order_id}``); the full
        # template is the documented path that ends with it and matches. Looked up once per route.
        own: str = getattr(route, "path", "other")
        template = own
        path = scope.get("path", "")
        for pattern, documented in self._documented_paths(scope.get("app")):
            if documented.endswith(own) and pattern.match(path):
                template = documented
                break
        self._templates[id(route)] = template
        return template

    def _documented_paths(self, app: Any) -> list[tuple[re.Pattern[str], str]]:
        if self._documented is None:
            paths = app.openapi()["paths"] if app is not None and hasattr(app, "openapi") else {}
            self._documented = [(compile_path(p)[0], p) for p in paths]
        return self._documented

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            name = self._template(scope)
            method = scope.get("method", "GET")
            metrics.HTTP_REQUESTS.labels(method, name, str(status)).inc()
            metrics.HTTP_LATENCY.labels(method, name).observe(time.perf_counter() - started)
