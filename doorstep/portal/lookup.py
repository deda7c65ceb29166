"""The order lookup: order number + e-mail or postal code → the tracking page (``/t/{token}``).

The same form, with the same limits, starts a return: ``/returns/{store_slug}`` (``/returns`` on a
store's domain) leads to the returns portal (``/r/new/{token}``) instead.

``/track/{store_slug}`` on the main host, ``/track`` (and ``/``) on a store's own domain. The answer for
an unknown order number and for a wrong e-mail is the same page, produced by the same work, so the form
never tells anyone whether an order number exists. Attempts are limited per client IP and per order
number (in this process's memory; behind several web processes each keeps its own count).
"""

import threading
import time
from collections import deque
from typing import Annotated, Literal
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from doorstep.config import Settings
from doorstep.core.errors import NotFound
from doorstep.db import read_transaction
from doorstep.orders import service as order_service
from doorstep.portal import i18n, render, theme, tracking
from doorstep.stores import service as store_service
from doorstep.web.deps import AppSettings, Db

router = APIRouter(include_in_schema=False)
Purpose = Literal["track", "return"]


class SlidingWindow:
    """At most ``limit`` hits per key in any ``window`` seconds (thread-safe, in memory)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, now: float | None = None) -> float:
        """Record a hit; 0 when allowed, else the seconds until the next hit would be."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if len(self._hits) > 50_000:  # bounded memory under a flood of distinct keys
                self._hits = {k: v for k, v in self._hits.items() if v and v[-1] > now - self.window}
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return hits[0] + self.window - now
            hits.append(now)
            return 0.0


class Limits:
    def __init__(self, settings: Settings) -> None:
        portal = settings.portal
        self.per_ip = SlidingWindow(portal.lookup_attempts_per_ip, portal.lookup_window_seconds)
        self.per_order = SlidingWindow(portal.lookup_attempts_per_order, portal.lookup_window_seconds)


_limits_lock = threading.Lock()


def limits_for(request: Request) -> Limits:
    """One set of counters per app (tests build many apps in one process)."""
    with _limits_lock:
        limits: Limits | None = getattr(request.app.state, "lookup_limits", None)
        if limits is None:
            limits = Limits(request.app.state.settings)
            request.app.state.lookup_limits = limits
        return limits


def _store(request: Request, db: Db, slug: str | None) -> tracking.StoreView | None:
    with read_transaction(db) as session:
        if slug is None:
            return tracking.host_store_view(session, tracking.host_of(request))
        try:
            return tracking.store_view(store_service.get_store_by_slug(session, slug=slug))
        except NotFound:
            return None


def _lang(request: Request, store: tracking.StoreView | None, explicit: str | None) -> i18n.Lang:
    code = i18n.negotiate(
        explicit, None, request.headers.get("accept-language"), store.locale if store else None
    )
    return i18n.lang(code, store.timezone if store else None)


def _form(
    request: Request, store: tracking.StoreView, lang: i18n.Lang, *, status: int = 200,
    message: str | None = None, number: str = "", contact: str = "", headers: dict[str, str] | None = None,
    purpose: Purpose = "track",
) -> Response:  # fmt: skip
    built = tracking.theme_for(store.branding_json)
    body = render.page(
        "lookup.html",
        lang,
        {
            "title": lang._("Track your order") if purpose == "track" else lang._("Start a return"),
            "purpose": purpose,
            "store": store,
            "theme": built,
            "theme_url": theme.theme_url(store.public_id, built),
            "action": request.url.path,
            "message": message,
            "number": number,
            "contact": contact,
            "languages": render.language_links(request),
        },
    )
    return render.html(body, status, {"Cache-Control": "no-store", **(headers or {})})


def _show(
    request: Request, db: Db, slug: str | None, lang: str | None, purpose: Purpose = "track"
) -> Response:
    store = _store(request, db, slug)
    if store is None:
        if slug is None:
            raise HTTPException(404)
        return render.gone(_lang(request, None, lang))
    return _form(request, store, _lang(request, store, lang), purpose=purpose)


async def _submit(
    request: Request, db: Db, settings: Settings, slug: str | None, purpose: Purpose = "track"
) -> Response:
    fields = parse_qs((await request.body())[:4096].decode("utf-8", "replace"))
    number = (fields.get("number") or [""])[0].strip()[:64]
    contact = (fields.get("contact") or [""])[0].strip()[:320]
    explicit = next(iter(fields.get("lang") or []), None)
    store = await run_in_threadpool(_store, request, db, slug)
    if store is None:
        if slug is None:
            raise HTTPException(404)
        return render.gone(_lang(request, None, explicit))
    lang = _lang(request, store, explicit)
    limits = limits_for(request)
    client = request.client.host if request.client else "unknown"
    wait = max(
        limits.per_ip.hit(f"{store.id}:{client}"),
        limits.per_order.hit(f"{store.id}:{number.lstrip('#').strip().casefold()}"),
    )
    if wait > 0:
        minutes = max(1, round(wait / 60))
        return _form(
            request, store, lang, status=429, number=number, contact=contact, purpose=purpose,
            message=lang._("Too many attempts. Please try again in {n} minutes.", n=minutes),
            headers={"Retry-After": str(int(wait) + 1)},
        )  # fmt: skip
    if not number or not contact:
        return _form(
            request, store, lang, number=number, contact=contact, purpose=purpose,
            message=lang._("Enter your order number and your e-mail address or postal code."),
        )  # fmt: skip
    email, postal = (contact, None) if "@" in contact else (None, contact)

    def find() -> str | None:
        with read_transaction(db) as session:
            order = order_service.find_for_lookup(
                session, store_id=store.id, number=number, email=email, postal_code=postal
            )
            return order.status_token if order else None

    token = await run_in_threadpool(find)
    if token is None:
        return _form(
            request, store, lang, number=number, contact=contact, purpose=purpose,
            message=lang._("We could not find an order with these details. Check them and try again."),
        )  # fmt: skip
    path = f"/t/{quote(token)}" if purpose == "track" else f"/r/new/{quote(token)}"
    target = path + (f"?lang={lang.code}" if explicit else "")
    return render.secure(RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"}))


LangQuery = Annotated[str | None, Query(max_length=16)]


@router.get("/track/{store_slug}")
def lookup_page(store_slug: str, request: Request, db: Db, lang: LangQuery = None) -> Response:
    return _show(request, db, store_slug, lang)


@router.post("/track/{store_slug}")
async def lookup_submit(store_slug: str, request: Request, db: Db, settings: AppSettings) -> Response:
    return await _submit(request, db, settings, store_slug)


@router.get("/track")
def lookup_page_on_domain(request: Request, db: Db, lang: LangQuery = None) -> Response:
    return _show(request, db, None, lang)


@router.post("/track")
async def lookup_submit_on_domain(request: Request, db: Db, settings: AppSettings) -> Response:
    return await _submit(request, db, settings, None)


@router.get("/")
def domain_home(request: Request, db: Db, lang: LangQuery = None) -> Response:
    """A store's own domain opens on the lookup form; the main host has no page here."""
    return _show(request, db, None, lang)


@router.get("/returns/{store_slug}")
def return_lookup_page(store_slug: str, request: Request, db: Db, lang: LangQuery = None) -> Response:
    return _show(request, db, store_slug, lang, "return")


@router.post("/returns/{store_slug}")
async def return_lookup_submit(store_slug: str, request: Request, db: Db, settings: AppSettings) -> Response:
    return await _submit(request, db, settings, store_slug, "return")


@router.get("/returns")
def return_lookup_page_on_domain(request: Request, db: Db, lang: LangQuery = None) -> Response:
    return _show(request, db, None, lang, "return")


@router.post("/returns")
async def return_lookup_submit_on_domain(request: Request, db: Db, settings: AppSettings) -> Response:
    return await _submit(request, db, settings, None, "return")
