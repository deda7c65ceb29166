"""``GET /api/v1/stores/me/branding/preview``: a sample tracking page with draft or stored branding.

Draft settings come as query parameters (validated exactly like ``PATCH /api/v1/stores/me/branding``);
anything not sent comes from the stored branding. The theme is inlined in one ``<style>`` element
allowed by its hash in the Content-Security-Policy, so nothing is saved to preview a change.
"""

import base64
import hashlib
import json
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from doorstep.core import clock
from doorstep.core.errors import invalid_from_validation
from doorstep.db import read_transaction
from doorstep.orders.service import Product
from doorstep.portal import i18n, presenter, render, theme, tracking
from doorstep.stores import service as store_service
from doorstep.stores.commands import UpdateBranding
from doorstep.web.deps import CurrentStore, Db

router = APIRouter(prefix="/api/v1/stores/me/branding", tags=["stores"])

SAMPLE_STATUSES = (
    "in_transit",
    "out_for_delivery",
    "delayed",
    "exception",
    "available_for_pickup",
    "delivered",
)


def sample_order(status: str) -> presenter.OrderFact:
    now = clock.now()
    journey = [
        ("info_received", "Shipping label created", "Reno", "NV", 60),
        ("in_transit", "Picked up by carrier", "Reno", "NV", 48),
        ("in_transit", "Arrived at hub", "Salt Lake City", "UT", 30),
    ]
    final = {
        "out_for_delivery": ("out_for_delivery", "Out for delivery", "Brooklyn", "NY", 2),
        "exception": ("exception", "Address incomplete", "Brooklyn", "NY", 2),
        "available_for_pickup": (
            "available_for_pickup",
            "Ready at Access Point, 12 Court St",
            "Brooklyn",
            "NY",
            2,
        ),
        "delivered": ("delivered", "Delivered, front door", "Brooklyn", "NY", 1),
    }.get(status)
    if final:
        journey.append(final)
    scans = tuple(
        presenter.ScanFact(
            now - timedelta(hours=h), s, "address_issue" if s == "exception" else None, m, c, r, None, "US"
        )
        for s, m, c, r, h in journey
    )
    today = now.date()
    parcel = presenter.ParcelFact(
        carrier="ups", tracking_number="1Z999AA10123456784", service="Ground",
        status=scans[-1].status, substatus=scans[-1].substatus,
        promised_on=today + timedelta(days=1), expected_on=today + timedelta(days=4 if status == "delayed" else 1),
        is_delayed=status == "delayed", delivered_at=scans[-1].occurred_at if status == "delivered" else None,
        scans=scans, items=(presenter.ItemFact("Ridgeline Rain Jacket", 1, "Moss / M"),
                            presenter.ItemFact("Wool Hiking Socks (3 pack)", 2, "Oat")),
    )  # fmt: skip
    return presenter.OrderFact(
        number="#1042", placed_at=now - timedelta(days=3),
        address={"name": "Ana Souza", "line1": "1 Main St", "city": "Brooklyn", "region": "NY",
                 "postal_code": "11215", "country": "US"},
        parcels=(parcel,),
    )  # fmt: skip


@router.get("/preview", response_class=HTMLResponse)
def preview_branding(
    request: Request,
    db: Db,
    store: CurrentStore,
    logo_url: Annotated[str | None, Query(max_length=2000)] = None,
    favicon_url: Annotated[str | None, Query(max_length=2000)] = None,
    primary_color: str | None = None,
    accent_color: str | None = None,
    background_color: str | None = None,
    font_stack: Annotated[str | None, Query(max_length=300)] = None,
    custom_css: Annotated[str | None, Query(max_length=10_000)] = None,
    status: Annotated[str, Query(pattern="^(" + "|".join(SAMPLE_STATUSES) + ")$")] = "in_transit",
    lang: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    """Render a sample tracking page with draft branding (query parameters) over the stored branding."""
    draft: dict[str, Any] = {
        k: v
        for k, v in {
            "logo_url": logo_url, "favicon_url": favicon_url, "primary_color": primary_color,
            "accent_color": accent_color, "background_color": background_color, "font_stack": font_stack,
            "custom_css": custom_css,
        }.items()
        if v is not None
    }  # fmt: skip
    try:
        checked = UpdateBranding.model_validate(draft).model_dump(exclude_unset=True)
    except ValidationError as exc:
        raise invalid_from_validation(list(exc.errors())) from exc  # type: ignore[arg-type]
    with read_transaction(db) as session:
        row = store_service.get_store(session, store_id=store.id)
        view = tracking.store_view(row)
        merged = {**row.branding, **checked}
    built = theme.build_theme(merged)
    language = i18n.lang(
        i18n.negotiate(lang, None, request.headers.get("accept-language"), view.locale), view.timezone
    )
    loaded = tracking.Loaded(
        store=view, order_id=0, order=sample_order(status), customer_locale=None, customer_timezone=None,
        products=(Product("sample-1", "Summit Daypack 22L", None, 12900, "USD", 3),
                  Product("sample-2", "Insulated Bottle 750 ml", None, 3600, "USD", 2)),
        fingerprint=json.dumps(merged, sort_keys=True),
    )  # fmt: skip
    body = tracking.render_tracking(
        request, loaded, language, theme_obj=built, theme_href=None, inline_theme=built.css
    )
    digest = base64.b64encode(hashlib.sha256(built.css.encode()).digest()).decode()
    csp = render.CSP.replace("style-src 'self'", f"style-src 'self' 'sha256-{digest}'")
    response = HTMLResponse(body, headers={"Cache-Control": "no-store"})
    return render.secure(response, csp)
