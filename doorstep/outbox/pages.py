"""/dev/outbox: every message the devbox channel "delivered", for developers and the demo.

Only served while devbox is enabled (``DOORSTEP_CHANNELS__DEVBOX``, on in dev and the demo); otherwise
every route is a 404, so a production server never shows shoppers' messages. The list shows all stores
(it is a local developer tool). An email's HTML is served by its own route with a sandboxing
Content-Security-Policy and shown in a sandboxed ``<iframe>``: the message's markup never runs in the
outbox page itself, and scripts never run at all.
"""

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader

from doorstep.core.errors import NotFound
from doorstep.db import read_transaction
from doorstep.messaging import segments
from doorstep.outbox import service as outbox_service
from doorstep.web.deps import AppSettings, Db

TEMPLATES = Path(__file__).resolve().parent / "templates"
PAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: http: data:; frame-src 'self'; "
    "form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
)
# The email's own document: no scripts, no forms, no plugins, an opaque origin (CSP sandbox).
MESSAGE_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; frame-ancestors 'self'"

router = APIRouter(prefix="/dev/outbox", include_in_schema=False)


@lru_cache(maxsize=1)
def _env() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=True, trim_blocks=True, lstrip_blocks=True
    )


def _enabled(settings: AppSettings) -> None:
    if not settings.devbox_enabled:
        raise NotFound("the outbox is only served while devbox is enabled (DOORSTEP_CHANNELS__DEVBOX=true)")


def _page(name: str, **values: object) -> HTMLResponse:
    html = _env().get_template(name).render(**values)
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": PAGE_CSP,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


@router.get("", response_class=HTMLResponse)
def outbox(db: Db, settings: AppSettings, cursor: Annotated[str | None, Query()] = None) -> HTMLResponse:
    _enabled(settings)
    with read_transaction(db) as session:
        rows, next_cursor = outbox_service.list_messages(session, limit=50, cursor=cursor)
        return _page("outbox.html", rows=rows, next_cursor=next_cursor)


@router.get("/{outbox_id}", response_class=HTMLResponse)
def outbox_message(outbox_id: str, db: Db, settings: AppSettings) -> HTMLResponse:
    _enabled(settings)
    with read_transaction(db) as session:
        row = outbox_service.get_message(session, outbox_id=outbox_id)
        count = segments.count(row.text) if row.kind != "email" else None
        return _page("message.html", row=row, count=count)


@router.get("/{outbox_id}/html", response_class=HTMLResponse)
def outbox_message_html(outbox_id: str, request: Request, db: Db, settings: AppSettings) -> HTMLResponse:
    """The email's HTML exactly as sent, under a sandboxing CSP (framed by the message page)."""
    _enabled(settings)
    with read_transaction(db) as session:
        row = outbox_service.get_message(session, outbox_id=outbox_id)
        if row.html is None:
            raise NotFound(f"{outbox_id} is not an email")
        return HTMLResponse(
            row.html,
            headers={
                "Content-Security-Policy": MESSAGE_CSP,
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
            },
        )
