"""Domain errors. The web layer turns each into an RFC 9457 problem; the CLI prints it."""

from dataclasses import dataclass, field


@dataclass
class FieldProblem:
    """One thing wrong with the input: where (a JSON pointer-ish dotted path), what, and how to fix it."""

    field: str
    message: str
    fix: str


class DoorstepError(Exception):
    status = 400
    type_slug = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str, *, problems: list[FieldProblem] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.problems = problems or []


class NotFound(DoorstepError):
    status = 404
    type_slug = "not-found"
    title = "Not found"


class Conflict(DoorstepError):
    status = 409
    type_slug = "conflict"
    title = "Conflict"


class Invalid(DoorstepError):
    status = 422
    type_slug = "validation-error"
    title = "Invalid input"

    @classmethod
    def field(cls, name: str, message: str, fix: str) -> "Invalid":
        return cls(f"{name}: {message}", problems=[FieldProblem(name, message, fix)])


class UnsupportedMediaType(DoorstepError):
    status = 415
    type_slug = "unsupported-media-type"
    title = "Unsupported media type"


class Unauthorized(DoorstepError):
    status = 401
    type_slug = "unauthorized"
    title = "Unauthorized"


def error_for_status(status: int, detail: str, problems: list[FieldProblem]) -> DoorstepError:
    """Rebuild the error a recorded rejection answered with (its class by HTTP status)."""
    for kind in (NotFound, Conflict, Invalid, Unauthorized, UnsupportedMediaType):
        if kind.status == status:
            return kind(detail, problems=problems)
    error = DoorstepError(detail, problems=problems)
    error.status = status
    return error


@dataclass
class Rejection:
    """Why a payload could not be applied: kept on the inbound event."""

    reason: str
    problems: list[FieldProblem] = field(default_factory=list)


# What to tell a client for each kind of Pydantic failure, so every problem names a fix.
_FIXES = {
    "missing": "add this field",
    "extra_forbidden": "remove this field; it is not part of the request",
    "int_parsing": "send a whole number",
    "int_type": "send a whole number",
    "int_from_float": "send a whole number (amounts are integer minor units, e.g. 1999 for 19.99)",
    "float_parsing": "send a number",
    "string_type": "send a string",
    "bool_parsing": "send true or false",
    "bool_type": "send true or false",
    "greater_than_equal": "send a value at or above the minimum",
    "greater_than": "send a larger value",
    "less_than_equal": "send a value at or below the maximum",
    "string_too_short": "send a longer value",
    "string_too_long": "send a shorter value",
    "too_short": "send more items",
    "too_long": "send fewer items",
    "datetime_parsing": "send ISO 8601 with an offset, e.g. 2026-11-23T10:00:00Z",
    "datetime_from_date_parsing": "send ISO 8601 with an offset, e.g. 2026-11-23T10:00:00Z",
    "datetime_type": "send ISO 8601 with an offset, e.g. 2026-11-23T10:00:00Z",
    "date_parsing": "send a date as YYYY-MM-DD",
    "date_from_datetime_parsing": "send a date as YYYY-MM-DD",
    "enum": "send one of the allowed values",
    "literal_error": "send one of the allowed values",
    "model_type": "send a JSON object",
    "model_attributes_type": "send a JSON object",
    "dict_type": "send a JSON object",
    "list_type": "send a JSON array",
    "tuple_type": "send a JSON array",
    "json_invalid": "send a valid JSON document",
    "value_error": "correct the value as described",
}


def summarize(problems: list[FieldProblem]) -> str:
    """``field: message; field: message``: the problems in one line, for a problem's ``detail``."""
    return "; ".join(f"{p.field}: {p.message}" for p in problems)


def invalid_from_validation(errors: list[dict[str, object]], *, root: str = "") -> Invalid:
    """Turn Pydantic's error list into one Invalid whose problems each name a field and a fix."""
    problems: list[FieldProblem] = []
    locations = [tuple(str(part) for part in error.get("loc", ()) or ()) for error in errors]  # type: ignore[attr-defined]
    for error, loc in zip(errors, locations, strict=True):
        # A list whose element failed also reports "too short"; the element's own problem says it all.
        if error.get("type") == "too_short" and any(
            other[: len(loc)] == loc and len(other) > len(loc) for other in locations
        ):
            continue
        location = list(loc)
        name = ".".join(([root] if root else []) + location) or "body"
        context = error.get("ctx") or {}
        fix = context.get("fix") if isinstance(context, dict) else None
        kind = str(error.get("type", ""))
        message = str(error.get("msg", "is invalid"))
        if kind in ("enum", "literal_error") and isinstance(context, dict) and "expected" in context:
            fix = f"send one of {context['expected']}"
        problems.append(FieldProblem(name, message, str(fix or _FIXES.get(kind, "correct this value"))))
    summary = summarize(problems[:5])
    return Invalid(f"the request has {len(problems)} invalid field(s): {summary}", problems=problems)
