"""What the returns portal's pages share: the store and language of a page, links, CSRF-protected forms.

Used by the return steps (``portal.returns``), the return's page (``portal.return_status``) and the claim
form (``portal.claims``). A link token that is unknown, rotated or shown on another store's domain gets
the same "this link does not work" page as the tracking page.
"""

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from doorstep.orders import service as order_service
from doorstep.orders.models import Order
from doorstep.portal import forms, i18n, render, theme, tracking
from doorstep.portal import return_words as words
from doorstep.returns import photos as photo_service
from doorstep.stores import service as store_service


@dataclass(frozen=True)
class Shop:
    """The store and language a page speaks, read once per request."""

    store: tracking.StoreView
    lang: i18n.Lang
    explicit: str | None  # ?lang= as asked, kept across the steps

    def base(self, title: str, request: Request) -> dict[str, Any]:
        built = tracking.theme_for(self.store.branding_json)
        return {
            "title": title,
            "store": self.store,
            "theme": built,
            "theme_url": theme.theme_url(self.store.public_id, built),
            "languages": render.language_links(request),
        }


def secret_of(request: Request) -> str:
    return str(request.app.state.settings.security.secret_key.get_secret_value())


def shop_for(request: Request, session: Session, order: Order, explicit: str | None) -> Shop:
    store = tracking.store_view(store_service.get_store(session, store_id=order.store_id))
    customer = order.customer
    code = i18n.negotiate(
        explicit, customer.locale if customer else None, request.headers.get("accept-language"), store.locale
    )
    return Shop(store, i18n.lang(code, (customer.timezone if customer else None) or store.timezone), explicit)


def find_order(request: Request, session: Session, token: str) -> Order | None:
    """The order behind a tracking token, if this host may show it (a store's domain shows only its own)."""
    order = order_service.get_by_status_token(session, token=token)
    host = tracking.host_of(request)
    if order is None or (host and tracking.host_store(session, host) not in (None, order.store_id)):
        return None
    return order


def gone(request: Request, explicit: str | None) -> Response:
    code = i18n.negotiate(explicit, None, request.headers.get("accept-language"), None)
    return render.gone(i18n.lang(code, None))


def url_for(path: str, shop: Shop, **params: str) -> str:
    query = {**params, **({"lang": shop.explicit} if shop.explicit else {})}
    return path + (("?" + urlencode(query)) if query else "")


def redirect(url: str) -> Response:
    return render.secure(RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"}))


def form_page(
    request: Request, name: str, shop: Shop, context: dict[str, Any], *, status: int = 200, scope: str
) -> Response:
    """Renders a form page with a CSRF token for ``scope``, setting the CSRF cookie when new."""
    cookie, is_new = forms.csrf_cookie(request)
    body = render.page(
        name,
        shop.lang,
        {**context, "csrf": forms.csrf_token(secret_of(request), cookie, scope), "words": words},
    )
    response = render.html(body, status, {"Cache-Control": "no-store"})
    if is_new:
        forms.set_csrf_cookie(response, request, cookie)
    return response


def refused(request: Request, shop: Shop, message: str, *, back: str, status: int = 400) -> Response:
    context = shop.base(shop.lang._("This form could not be used"), request)
    context.update(message=message, back=back)
    return form_page(request, "return_refused.html", shop, context, status=status, scope="refused")


def stale_message(shop: Shop) -> str:
    return shop.lang._(
        "This form was changed or is more than a day old, so we did not use it. Nothing was changed: start again from your order."
    )


def photo_message(shop: Shop, message: str, filename: str, data: bytes, limit: int) -> str:
    """The photo problem in the page's language (the service's English message as a fallback)."""
    name = filename or shop.lang._("the file")
    if len(data) > limit:
        return shop.lang._("{name} is larger than {mb} MB.", name=name, mb=f"{limit / 1_000_000:g}")
    if not data:
        return shop.lang._("{name} is empty.", name=name)
    if photo_service.sniff(data) is None:
        return shop.lang._("{name} is not a photo (JPEG, PNG or WebP).", name=name)
    return message


def csrf_message(shop: Shop) -> str:
    return shop.lang._(
        "This form expired or was sent from another page. Nothing was changed: open the page again and resend it."
    )
