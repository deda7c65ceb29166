"""``/t/{token}``: the shopper's tracking page for one order, and the two stylesheets it links.

The page is read in a read-only transaction (no SQLite write lock); the visit counter is a separate,
one-statement write that runs after the response is sent. Repeat views are cheap: the ETag is derived
from what the page shows (order, parcels, scans, branding, language, today's date), so a matching
``If-None-Match`` gets a 304 without rendering.
"""

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route

from doorstep.core import clock
from doorstep.db import WouldBlock, read_transaction, transaction
from doorstep.orders import service as order_service
from doorstep.orders.models import LineItem, Order
from doorstep.portal import i18n, presenter, render, theme
from doorstep.returns import claims as claim_service
from doorstep.returns import service as return_service
from doorstep.shipments import service as shipment_service
from doorstep.shipments.models import Checkpoint, Shipment
from doorstep.stores import service as store_service
from doorstep.stores.models import Store
from doorstep.web.deps import Db

router = APIRouter(include_in_schema=False)

RECOMMENDATIONS = 4
_RECS_TTL = 300.0  # seconds: co-purchase counts move slowly; recomputing per view would not
_recs_cache: dict[tuple[int, tuple[str, ...]], tuple[float, list[order_service.Product]]] = {}
_recs_lock = threading.Lock()


class _Lru:
    """A small thread-safe LRU map (rendered pages, loaded orders)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


class Visits:
    """Counts page views in memory and writes them at most once a second, one UPDATE per order.

    A crash loses at most a second of counts: analytics, not an audit log.
    """

    FLUSH_EVERY = 1.0
    ASK_AGAIN_AFTER = 10.0

    def __init__(self) -> None:
        self._pending: dict[tuple[int, int], int] = {}
        self._lock = threading.Lock()
        self._last_flush = time.monotonic()
        self._flush_asked_at: float | None = None  # a flush was asked for then and has not run yet

    def add(self, store_id: int, order_id: int) -> bool:
        """Count one view; True for the one caller that should flush now.

        Only one flush is asked for at a time: under a burst every view after the due time would
        otherwise schedule its own, each taking SQLite's write lock for a handful of counts. A flush
        asked for but not run within ``ASK_AGAIN_AFTER`` (its response's background task never ran, say
        the client went away) is asked for again, so counts are never stranded.
        """
        now = time.monotonic()
        with self._lock:
            key = (store_id, order_id)
            self._pending[key] = self._pending.get(key, 0) + 1
            if now - self._last_flush < self.FLUSH_EVERY:
                return False
            if self._flush_asked_at is not None and now - self._flush_asked_at < self.ASK_AGAIN_AFTER:
                return False
            self._flush_asked_at = now
            return True

    def flush(self, factory: sessionmaker[Session]) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
            self._last_flush = time.monotonic()
            self._flush_asked_at = None
        if not pending:
            return
        with transaction(factory) as session:
            order_service.record_tracking_visits(session, counts=pending)


monotonic = time.monotonic  # a seam for tests of the freshness window
_loaded_cache = _Lru(4096)  # token → (fingerprint, Loaded, monotonic time it was loaded)
_page_cache = _Lru(4096)  # (token, fingerprint, language, zone, today) → rendered HTML


@dataclass(frozen=True)
class StoreView:
    id: int
    public_id: str
    name: str
    locale: str
    timezone: str
    support_email: str | None
    support_phone: str | None
    support_url: str | None
    branding_json: str
    updated_at: str


@dataclass(frozen=True)
class Loaded:
    store: StoreView
    order_id: int
    order: presenter.OrderFact
    customer_locale: str | None
    customer_timezone: str | None
    products: tuple[order_service.Product, ...]
    fingerprint: str
    status_token: str = ""
    can_return: bool = False  # some item is returnable now (returns policy); fills the returns slot
    claim_parcels: tuple[int, ...] = ()  # parcels (1-based) a problem can be reported for: the claims slot


def host_of(request: Request) -> str:
    return (request.headers.get("host") or "").rsplit(":", 1)[0].strip("[]").lower()


def store_view(store: Store) -> StoreView:
    return StoreView(
        store.id, store.public_id, store.name, store.locale, store.timezone, store.support_email,
        store.support_phone, store.support_url, json.dumps(store.branding, sort_keys=True),
        store.updated_at.isoformat(),
    )  # fmt: skip


_HOSTS_TTL = 30.0
_hosts: dict[str, tuple[float, int | None]] = {}


def _known_host(host: str) -> tuple[int | None] | None:
    """:func:`host_store`'s cached answer for ``host`` while it is fresh (a 1-tuple); None when not cached."""
    hit = _hosts.get(host)
    return (hit[1],) if hit is not None and hit[0] > time.monotonic() else None


def host_store(session: Session, host: str) -> int | None:
    """The id of the store whose custom domain this request came in on, if any (cached for 30 s)."""
    known = _known_host(host)
    if known is not None:
        return known[0]
    store = store_service.get_store_by_hostname(session, hostname=host) if host else None
    if len(_hosts) > 10_000:
        _hosts.clear()
    _hosts[host] = (time.monotonic() + _HOSTS_TTL, store.id if store else None)
    return store.id if store else None


def host_store_view(session: Session, host: str) -> StoreView | None:
    store = store_service.get_store_by_hostname(session, hostname=host) if host else None
    return store_view(store) if store else None


def _item(line: LineItem, quantity: int | None = None) -> presenter.ItemFact:
    image = line.image_url if line.image_url and line.image_url.startswith("https://") else None
    return presenter.ItemFact(line.title, quantity or line.quantity, line.variant_title, image)


def _scan(cp: Checkpoint) -> presenter.ScanFact:
    return presenter.ScanFact(
        cp.occurred_at,
        cp.status,
        cp.substatus,
        cp.raw_message,
        cp.city,
        cp.region,
        cp.postal_code,
        cp.country,
    )


def _parcel(shipment: Shipment, scans: Sequence[Checkpoint]) -> presenter.ParcelFact:
    return presenter.ParcelFact(
        carrier=shipment.carrier, tracking_number=shipment.tracking_number, status=shipment.status,
        substatus=shipment.substatus, service=shipment.service, tracking_url=shipment.tracking_url,
        is_delayed=shipment.is_delayed, promised_on=shipment.promised_on, expected_on=shipment.expected_on,
        shipped_at=shipment.shipped_at, delivered_at=shipment.delivered_at, signed_by=shipment.signed_by,
        scans=tuple(_scan(cp) for cp in scans),
        items=tuple(_item(si.line_item, si.quantity) for si in shipment.items),
    )  # fmt: skip


def order_facts(
    order: Order, parcels: Sequence[tuple[Shipment, Sequence[Checkpoint]]]
) -> presenter.OrderFact:
    shipped = {si.line_item_id for shipment, _ in parcels for si in shipment.items}
    return presenter.OrderFact(
        number=order.number,
        placed_at=order.placed_at,
        cancelled_at=order.cancelled_at,
        address=dict(order.shipping_address or {}),
        parcels=tuple(_parcel(s, cps) for s, cps in parcels),
        unshipped=tuple(_item(li) for li in order.line_items if li.id not in shipped) if parcels else (),
    )


def recommended(session: Session, store_id: int, product_ids: Sequence[str]) -> list[order_service.Product]:
    key = (store_id, tuple(sorted(set(product_ids))))
    now = time.monotonic()
    with _recs_lock:
        hit = _recs_cache.get(key)
    if hit and hit[0] > now:
        return hit[1]
    products = order_service.recommend_products(
        session, store_id=store_id, product_ids=key[1], limit=RECOMMENDATIONS
    )
    with _recs_lock:
        if len(_recs_cache) > 2048:
            _recs_cache.clear()
        _recs_cache[key] = (now + _RECS_TTL, products)
    return products


# Seconds: what depends on the clock alone (return window, claim timing) is re-read this often.
_RELOAD_AFTER = 60.0


def load(engine: Engine, factory: sessionmaker[Session], *, token: str, host: str) -> Loaded | None:
    """Everything the page shows; None for an unusable link.

    One query (no Session) tells whether what the page shows changed since the last view; while it has
    not, the order loaded then is reused, for at most a minute. Otherwise the order is read in one
    read-only transaction.
    """
    fingerprint = order_service.status_page_fingerprint(engine, token=token)
    if fingerprint is None:
        return None
    _, store_id, digest = fingerprint
    if host and _store_of_host(factory, host) not in (None, store_id):
        return None  # a store's domain only ever shows that store's orders
    now = monotonic()
    reusable = _reusable(token, digest, now)
    if reusable is not None:
        return reusable
    with read_transaction(factory) as session:
        fresh = _load(session, token)
    if fresh is not None:
        _loaded_cache.put(token, (digest, fresh, now))
    return fresh


def _reusable(token: str, digest: str, now: float) -> Loaded | None:
    """The order loaded before under this fingerprint, unless it is due for its once-a-minute re-read."""
    cached = _loaded_cache.get(token)
    if cached is None or cached[0] != digest or now - cached[2] >= _RELOAD_AFTER:
        return None
    loaded: Loaded = cached[1]
    return loaded


def _store_of_host(factory: sessionmaker[Session], host: str) -> int | None:
    known = _known_host(host)
    if known is not None:
        return known[0]
    with read_transaction(factory) as session:
        return host_store(session, host)


def _load(session: Session, token: str) -> Loaded | None:
    order = order_service.get_by_status_token(session, token=token)
    if order is None:
        return None
    store = store_service.get_store(session, store_id=order.store_id)
    parcels = shipment_service.list_order_parcels(session, store_id=store.id, order_id=order.id)
    product_ids = [li.product_id for li in order.line_items if li.product_id]
    products = recommended(session, store.id, product_ids)
    facts = order_facts(order, parcels)
    parts: list[Any] = [
        order.id, order.updated_at.isoformat(), store.updated_at.isoformat(),
        [(s.id, s.updated_at.isoformat(), len(cps), cps[-1].id if cps else 0) for s, cps in parcels],
        [p.product_id for p in products],
    ]  # fmt: skip
    customer = order.customer
    can_return = return_service.get_eligibility(
        session, store_id=store.id, order_id=order.public_id
    ).any_eligible
    claim_parcels = tuple(
        n
        for n, (shipment, _) in enumerate(parcels, start=1)
        if any(
            o.allowed or o.reason == "too_soon"  # "stolen" opens hours after delivery: offer the form now
            for o in claim_service.claimable(session, store_id=store.id, shipment_id=shipment.public_id)
        )
    )
    return Loaded(
        store=store_view(store),
        order_id=order.id,
        order=facts,
        customer_locale=customer.locale if customer else None,
        customer_timezone=customer.timezone if customer else None,
        products=tuple(products),
        fingerprint=json.dumps(parts, default=str),
        status_token=order.status_token,
        can_return=can_return,
        claim_parcels=claim_parcels,
    )


def returns_slot(loaded: Loaded, lang: i18n.Lang) -> dict[str, str] | None:
    """The tracking page's returns card: a link into the returns portal while an item is returnable."""
    if not loaded.can_return:
        return None
    suffix = f"?lang={lang.code}"
    return {
        "title": lang._("Need to return something?"),
        "text": lang._(
            "Start a return or an exchange online. You will see what you get back before you confirm."
        ),
        "href": f"/r/new/{loaded.status_token}{suffix}",
        "action": lang._("Start a return"),
    }


def claims_slot(loaded: Loaded, lang: i18n.Lang) -> dict[str, Any] | None:
    """The tracking page's "report a problem" card, for parcels whose status allows a claim."""
    if not loaded.claim_parcels:
        return None
    links = [
        (
            f"/t/{loaded.status_token}/problem/{n}?lang={lang.code}",
            lang._("Report a problem with parcel {n}", n=n),
        )
        for n in loaded.claim_parcels
    ]
    single = len(loaded.order.parcels) == 1
    return {
        "title": lang._("Problem with your parcel?"),
        "text": lang._("Lost, damaged, missing or the wrong item: tell us and we will make it right."),
        "href": links[0][0] if single else None,
        "action": lang._("Report a problem"),
        "links": [] if single else links,
    }


@lru_cache(maxsize=256)
def theme_for(branding_json: str) -> theme.Theme:
    return theme.build_theme(json.loads(branding_json))


def _etag(loaded: Loaded, lang: i18n.Lang, today: str, theme_digest: str) -> str:
    raw = "|".join((loaded.fingerprint, lang.code, str(lang.tz), today, theme_digest, theme.portal_css()[1]))
    return '"' + hashlib.sha256(raw.encode()).hexdigest()[:32] + '"'


_visits_lock = threading.Lock()


def visits_for(request: Request) -> Visits:
    """The app's visit counter (one per app: tests run many apps, each on its own database)."""
    with _visits_lock:
        visits: Visits | None = getattr(request.app.state, "tracking_visits", None)
        if visits is None:
            visits = request.app.state.tracking_visits = Visits()
        return visits


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return etag in tags or "*" in tags


PAGE_HEADERS = {"Cache-Control": "private, no-cache", "Vary": "Accept-Language"}


def render_tracking(
    request: Request,
    loaded: Loaded,
    lang: i18n.Lang,
    *,
    theme_obj: theme.Theme,
    theme_href: str | None,
    inline_theme: str | None = None,
) -> str:
    now = clock.now()
    page = presenter.present(loaded.order, lang, now)
    recommendations = [
        {"title": p.title, "image_url": p.image_url if (p.image_url or "").startswith("https://") else None,
         "price": lang.money(p.unit_price_minor, p.currency)}
        for p in loaded.products
    ]  # fmt: skip
    context: dict[str, Any] = {
        "title": page.headline.title,
        "store": loaded.store,
        "theme": theme_obj,
        "theme_url": theme_href,
        "page": page,
        "slots": {
            "returns": returns_slot(loaded, lang),
            "claims": claims_slot(loaded, lang),
            "review": None,
            "survey": None,
        },
        "recommendations": recommendations,
        "languages": render.language_links(request),
    }
    if inline_theme is not None:
        context["inline_theme"] = inline_theme
    return render.page("tracking.html", lang, context)


_recent = _Lru(4096)  # (token, host) → (monotonic time it was read, Loaded)


async def tracking_page(request: Request) -> Response:
    """The page. A link read from the database less than ``portal.page_freshness_seconds`` ago is
    answered on the event loop from memory (no thread hand-off, no query): a shopper refreshing, or a
    burst of shoppers, costs a hash and a dictionary lookup. Anything else runs in the thread pool.

    A plain Starlette route, not a FastAPI one: the shoppers' hottest page has one path parameter and
    one optional query parameter, and FastAPI's per-request parameter solving and validation cost a
    third of the whole view. ``?lang=`` is a hint, so a value that is not a short language tag is
    ignored rather than refused."""
    token: str = request.path_params["token"]
    lang = request.query_params.get("lang")
    if lang is not None and len(lang) > 16:
        lang = None
    fresh_for: float = request.app.state.settings.portal.page_freshness_seconds
    host = host_of(request)
    if fresh_for > 0:
        hit = _recent.get((token, host))
        if hit is not None and monotonic() - hit[0] < fresh_for:
            answer = _answer(request, token, hit[1], lang, may_render=False)
            if answer is not None:
                return answer
    unchanged = _answer_if_unchanged(request, token, host, lang)
    if unchanged is not None:
        return unchanged
    factory: sessionmaker[Session] = request.app.state.session_factory
    return await run_in_threadpool(_read_and_answer, request, token, host, factory, lang)


# Not on ``router``: the app puts this route first, at its top level (see :data:`doorstep.portal.FIRST`).
# FastAPI matches a route inside included routers once per nesting level, walking every route before
# it; at the top, the shoppers' hottest page is one regular expression away (12 µs → under 1 µs).
page_route = Route("/t/{token}", tracking_page, methods=["GET"], include_in_schema=False)


def _answer_if_unchanged(request: Request, token: str, host: str, lang: str | None) -> Response | None:
    """On the event loop, for a SQLite file: when the fingerprint read (microseconds, bounded to 50 ms
    of lock waiting) says the order loaded before is still what the page shows, answer from memory.
    Under a burst of views, handing this to the thread pool cost more CPU than the read itself. None
    sends the view to the thread pool (a change, a first view, a render, a lock, PostgreSQL)."""
    engine: Engine = request.app.state.engine
    try:
        fingerprint = order_service.status_page_fingerprint(engine, token=token, on_loop=True)
    except WouldBlock:
        return None
    if fingerprint is None:
        return None
    now = monotonic()
    loaded = _reusable(token, fingerprint[2], now)
    if loaded is None:
        return None
    if host:
        known = _known_host(host)
        if known is None or known[0] not in (None, fingerprint[1]):
            return None  # an unknown or foreign domain: the thread path decides
    answer = _answer(request, token, loaded, lang, may_render=False)
    if answer is not None:
        _recent.put((token, host), (now, loaded))
    return answer


def _read_and_answer(
    request: Request, token: str, host: str, factory: sessionmaker[Session], lang: str | None
) -> Response:
    loaded = load(request.app.state.engine, factory, token=token, host=host)
    if loaded is None:
        on_domain = _store_of_host(factory, host) if host else None
        fallback = i18n.lang(i18n.negotiate(lang, None, request.headers.get("accept-language"), None), None)
        return render.gone(fallback, lookup_url="/track" if on_domain else None)
    _recent.put((token, host), (monotonic(), loaded))
    answer = _answer(request, token, loaded, lang, may_render=True)
    assert answer is not None  # may_render: always an answer
    return answer


def _answer(
    request: Request, token: str, loaded: Loaded, lang: str | None, *, may_render: bool
) -> Response | None:
    """The 304, the cached page or (``may_render``) a fresh render; None when rendering is needed but
    not allowed here (on the event loop). Counts the visit only when it answers."""
    code = i18n.negotiate(
        lang, loaded.customer_locale, request.headers.get("accept-language"), loaded.store.locale
    )
    language = i18n.lang(code, loaded.customer_timezone or loaded.store.timezone)
    theme_obj = theme_for(loaded.store.branding_json)
    today = clock.now().astimezone(language.tz).date().isoformat()
    etag = _etag(loaded, language, today, theme_obj.digest)
    not_modified = _matches(request.headers.get("if-none-match"), etag)
    body: bytes | None = None
    if not not_modified:
        key = (token, etag, request.scope["query_string"])
        body = _page_cache.get(key)
        if body is None:
            if not may_render:
                return None
            body = render_tracking(
                request, loaded, language, theme_obj=theme_obj,
                theme_href=theme.theme_url(loaded.store.public_id, theme_obj),
            ).encode()  # fmt: skip
            _page_cache.put(key, body)
    visits = visits_for(request)
    factory: sessionmaker[Session] = request.app.state.session_factory
    visit = BackgroundTask(visits.flush, factory) if visits.add(loaded.store.id, loaded.order_id) else None
    return _page_response(body, etag, language.html_lang, visit)


_PAGE_RAW_HEADERS = [
    (name.lower().encode("latin-1"), value.encode("latin-1"))
    for name, value in {**PAGE_HEADERS, **render.SECURITY_HEADERS}.items()
]


def _page_response(body: bytes | None, etag: str, language: str, visit: BackgroundTask | None) -> Response:
    """The page (or its 304) with the page and security headers, encoded once at import, not per view."""
    if body is None:
        response = Response(status_code=304, background=visit)
    else:
        response = Response(body, media_type="text/html", background=visit)
    response.raw_headers += [
        *_PAGE_RAW_HEADERS,
        (b"etag", etag.encode()),
        (b"content-language", language.encode()),
    ]
    return response


_IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable", "X-Content-Type-Options": "nosniff"}


@router.get("/t/assets/portal.{digest}.css")
def portal_stylesheet(digest: str) -> Response:
    body, current = theme.portal_css()
    cache = _IMMUTABLE if digest == current else {"Cache-Control": "public, max-age=300"}
    return Response(body, media_type="text/css", headers={**cache, "ETag": f'"{current}"'})


@router.get("/t/assets/theme/{store_id}.{digest}.css")
def theme_stylesheet(store_id: str, digest: str, db: Db) -> Response:
    with read_transaction(db) as session:
        store = store_service.get_store_by_public_id(session, public_id=store_id)
        branding_json = json.dumps(store.branding, sort_keys=True) if store else None
    if branding_json is None:
        return Response("/* unknown store */", status_code=404, media_type="text/css")
    built = theme_for(branding_json)
    cache = _IMMUTABLE if digest == built.digest else {"Cache-Control": "public, max-age=300"}
    return Response(built.css, media_type="text/css", headers={**cache, "ETag": f'"{built.digest}"'})
