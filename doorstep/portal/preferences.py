"""Engagement links a message carries: the open pixel, the click redirect and the unsubscribe page.

- ``GET /e/o/{message}/{signature}.gif``: a 1x1 GIF that counts an open;
- ``GET /e/c/{message}/{signature}?u=…``: counts a click, then redirects to ``u`` (the signature covers the
  target, so this is no open redirect);
- ``GET /u/{message}/{signature}``: the shopper's page to stop this kind of message or choose how often to
  hear from the store; ``POST`` to the same URL applies it. A POST whose body is
  ``List-Unsubscribe=One-Click`` is the RFC 8058 one-click unsubscribe mail clients send.

Every link is signed (:mod:`doorstep.messaging.links`); a bad signature gets the same answer as an unknown
message. All three are rate-limited per client address, in this process's memory.
"""

import base64
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from doorstep.db import read_transaction, transaction
from doorstep.messaging import links
from doorstep.messaging import service as message_service
from doorstep.portal import i18n, render, theme, tracking
from doorstep.portal.lookup import SlidingWindow
from doorstep.stores import service as store_service
from doorstep.web.deps import AppSettings, Db

router = APIRouter(include_in_schema=False)

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
FREQUENCIES = ("every_update", "key_moments", "none")
_NO_STORE = {"Cache-Control": "no-store"}


class EngagementLimits:
    """Per client address: opens and clicks are cheap writes, unsubscribes rarer."""

    def __init__(self) -> None:
        self.events = SlidingWindow(120, 60.0)
        self.pages = SlidingWindow(30, 60.0)


def _limits(request: Request) -> EngagementLimits:
    limits: EngagementLimits | None = getattr(request.app.state, "engagement_limits", None)
    if limits is None:
        limits = EngagementLimits()
        request.app.state.engagement_limits = limits
    return limits


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _secret(settings: AppSettings) -> str:
    return settings.security.secret_key.get_secret_value()


@router.get("/e/o/{message_id}/{signature}.gif")
def open_pixel(message_id: str, signature: str, request: Request, db: Db, settings: AppSettings) -> Response:
    headers = {"Cache-Control": "no-store, private"}
    allowed = _limits(request).events.hit(_client(request)) == 0
    if allowed and links.verify(_secret(settings), signature, "open", message_id):
        with transaction(db) as session:
            message_service.record_open(session, message_id=message_id)
    return Response(PIXEL, media_type="image/gif", headers=headers)


@router.get("/e/c/{message_id}/{signature}")
def click(
    message_id: str,
    signature: str,
    request: Request,
    db: Db,
    settings: AppSettings,
    u: Annotated[str, Query(max_length=2000)] = "",
) -> Response:
    if not links.verify(_secret(settings), signature, "click", message_id, u):
        return render.gone(i18n.lang(i18n.DEFAULT, None))
    if _limits(request).events.hit(_client(request)) == 0:
        with transaction(db) as session:
            message_service.record_click(session, message_id=message_id)
    return render.secure(RedirectResponse(u, status_code=302, headers=_NO_STORE))


def _page(
    request: Request, db: Db, message_id: str, *, done: str | None = None, status: int = 200
) -> Response:
    with read_transaction(db) as session:
        found = message_service.subscription(session, message_id=message_id)
        store = (
            tracking.store_view(store_service.get_store(session, store_id=found.store_id)) if found else None
        )
    code = i18n.negotiate(request.query_params.get("lang"), None, request.headers.get("accept-language"),
                          store.locale if store else None)  # fmt: skip
    lang = i18n.lang(code, store.timezone if store else None)
    if found is None or store is None:
        return render.gone(lang)
    built = tracking.theme_for(store.branding_json)
    kinds = {
        "email": lang._("e-mails"),
        "sms": lang._("text messages"),
        "whatsapp": lang._("WhatsApp messages"),
    }
    body = render.page(
        "preferences.html",
        lang,
        {
            "title": lang._("Your notification preferences"),
            "store": store,
            "theme": built,
            "theme_url": theme.theme_url(store.public_id, built),
            "action": request.url.path,
            "kind": kinds.get(found.kind, found.kind),
            "recipient": found.recipient,
            "subscribed": found.subscribed,
            "frequency": found.frequency,
            "frequencies": [
                ("every_update", lang._("Every update")),
                ("key_moments", lang._("Only key moments (shipped, out for delivery, delivered, problems)")),
                ("none", lang._("No updates")),
            ],
            "done": done,
            "languages": render.language_links(request),
        },
    )
    return render.html(body, status, _NO_STORE)


@router.get("/u/{message_id}/{signature}")
def preferences_page(
    message_id: str, signature: str, request: Request, db: Db, settings: AppSettings
) -> Response:
    if _limits(request).pages.hit(_client(request)) > 0:
        return Response("Too many requests", status_code=429, headers={"Retry-After": "60"})
    if not links.verify(_secret(settings), signature, "unsubscribe", message_id):
        return render.gone(i18n.lang(i18n.DEFAULT, None))
    return _page(request, db, message_id)


@router.post("/u/{message_id}/{signature}")
async def update_preferences(
    message_id: str, signature: str, request: Request, db: Db, settings: AppSettings
) -> Response:
    """The page's form, or RFC 8058 one-click (``List-Unsubscribe=One-Click``) from a mail client."""
    if _limits(request).pages.hit(_client(request)) > 0:
        return Response("Too many requests", status_code=429, headers={"Retry-After": "60"})
    if not links.verify(_secret(settings), signature, "unsubscribe", message_id):
        return render.gone(i18n.lang(i18n.DEFAULT, None))
    fields = parse_qs((await request.body())[:4096].decode("utf-8", "replace"))
    one_click = (fields.get("List-Unsubscribe") or [""])[0] == "One-Click"
    frequency = (fields.get("frequency") or [""])[0]
    with transaction(db) as session:
        if one_click or (fields.get("action") or [""])[0] == "unsubscribe":
            source = "list-unsubscribe one-click" if one_click else "preferences page"
            found = message_service.unsubscribe(session, message_id=message_id, source=source)
            done = "unsubscribed"
        elif frequency in FREQUENCIES:
            found = message_service.unsubscribe(
                session, message_id=message_id, source="preferences page", frequency=frequency
            )
            done = "frequency"
        else:
            found, done = True, None
    if one_click:
        # Mail clients only read the status; a short plain answer is enough.
        return Response("unsubscribed" if found else "not found", status_code=200 if found else 404)
    return _page(request, db, message_id, done=done)
