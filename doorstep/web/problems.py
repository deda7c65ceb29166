"""RFC 9457 problem details for every error the API returns."""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from doorstep.core.errors import DoorstepError, FieldProblem, invalid_from_validation

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://doorstep.dev/problems/"


def problem_response(
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    instance: str | None = None,
    problems: list[FieldProblem] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"type": TYPE_BASE + slug, "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    if problems:
        body["errors"] = [{"field": p.field, "message": p.message, "fix": p.fix} for p in problems]
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def from_error(error: DoorstepError, instance: str | None = None) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
    return problem_response(
        error.status, error.type_slug, error.title, error.detail,
        instance=instance, problems=error.problems, headers=headers,
    )  # fmt: skip


_HTTP_TITLES = {
    404: ("not-found", "Not found", "check the URL; see /api/docs for the endpoints"),
    405: ("method-not-allowed", "Method not allowed", "use a method this endpoint supports (see /api/docs)"),
    413: ("payload-too-large", "Payload too large", "send a smaller body"),
    415: ("unsupported-media-type", "Unsupported media type", "send Content-Type: application/json"),
}


def install(app: FastAPI) -> None:
    @app.exception_handler(DoorstepError)
    async def _doorstep(request: Request, exc: DoorstepError) -> JSONResponse:
        return from_error(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [dict(e) for e in exc.errors()]
        return from_error(invalid_from_validation(errors), request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug, title, fix = _HTTP_TITLES.get(exc.status_code, ("http-error", "HTTP error", ""))
        detail = str(exc.detail) if exc.detail else title
        if fix:
            detail = f"{detail}: {fix}"
        return problem_response(exc.status_code, slug, title, detail, instance=request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return problem_response(
            500, "internal-error", "Internal error",
            "something went wrong on our side; the request was recorded and can be retried",
            instance=request.url.path,
        )  # fmt: skip
