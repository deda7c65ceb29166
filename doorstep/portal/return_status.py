"""``/r/{return token}``: where a return stands, and what to do next (label PDF, QR code, in-store code).

The label and the QR code encode the return's public id (``ret_…``), which the store's scanners read
back; the page also shows the short return code (RMA) for a counter. The label is offered once the
return is approved and while it is on its way, and only when the store's policy has a return address.
"""

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from doorstep.db import read_transaction
from doorstep.portal import i18n, render, theme, tracking
from doorstep.portal import return_words as words
from doorstep.returns import label as labels
from doorstep.returns import service as return_service
from doorstep.returns.lifecycle import Status
from doorstep.returns.models import ReturnRequest
from doorstep.returns.policy import Method, Reason, Resolution
from doorstep.stores import service as store_service
from doorstep.web.deps import Db

router = APIRouter(include_in_schema=False)
LangQuery = Annotated[str | None, Query(max_length=16)]
SENDING = frozenset({Status.approved, Status.label_issued, Status.in_transit})
FILE_HEADERS = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}


@dataclass(frozen=True)
class Found:
    request: ReturnRequest
    store: tracking.StoreView
    lang: i18n.Lang


def _find(request: Request, session: Session, token: str, explicit: str | None) -> Found | None:
    found = return_service.get_by_token(session, token=token)
    host = tracking.host_of(request)
    if found is None or (host and tracking.host_store(session, host) not in (None, found.store_id)):
        return None
    store = tracking.store_view(store_service.get_store(session, store_id=found.store_id))
    customer = found.order.customer
    code = i18n.negotiate(
        explicit, customer.locale if customer else None, request.headers.get("accept-language"), store.locale
    )
    return Found(found, store, i18n.lang(code, (customer.timezone if customer else None) or store.timezone))


def _label_facts(session: Session, found: ReturnRequest, store_name: str) -> labels.LabelFacts | None:
    policy = return_service.get_policy(session, store_id=found.store_id)
    if policy.return_address is None:
        return None
    return labels.LabelFacts(
        return_id=found.public_id,
        store_name=store_name,
        return_address=labels.address_lines(policy.return_address.model_dump()),
        shopper_address=labels.address_lines(found.order.shipping_address),
        order_number=found.order.number,
        item_count=sum(item.quantity for item in found.items),
        carrier=policy.return_carrier,
        return_code=found.rma,
    )


_STEP_OF = {
    Status.requested: 0, Status.approved: 1, Status.label_issued: 1, Status.in_transit: 2,
    Status.received: 3, Status.inspected: 3, Status.resolved: 4,
}  # fmt: skip


def _steps(lang: i18n.Lang, status: Status, *, travels: bool) -> list[dict[str, str]]:
    """The progress bar: done, current and coming steps (keep-it returns skip the trip back)."""
    at = _STEP_OF[status]
    steps = []
    for n, (step, label) in enumerate(words.STEPS):
        if not travels and step in (Status.in_transit, Status.received):
            continue
        state = "done" if n < at or status is Status.resolved else "current" if n == at else "todo"
        steps.append({"label": lang._(label), "state": state})
    return steps


def _context(request: Request, session: Session, found: Found, token: str) -> dict[str, Any]:
    ret, lang = found.request, found.lang
    status = Status(ret.status)

    def money(minor: int) -> str:
        return lang.money(minor, ret.currency)

    title, detail = words.HEADLINES[status]
    method = Method(ret.method)
    sending = status in SENDING and method is not Method.none
    has_label = (
        sending and method is Method.label and _label_facts(session, ret, found.store.name) is not None
    )
    built = tracking.theme_for(found.store.branding_json)
    suffix = f"?lang={lang.code}" if request.query_params.get("lang") else ""
    return {
        "title": lang._(title),
        "detail": lang._(detail) if detail else "",
        "store": found.store,
        "theme": built,
        "theme_url": theme.theme_url(found.store.public_id, built),
        "languages": render.language_links(request),
        "words": words,
        "ret": ret,
        "rma": ret.rma,
        "status": status,
        "rejected": ret.rejected_message if status is Status.rejected else None,
        "steps": [] if status is Status.rejected else _steps(lang, status, travels=method is not Method.none),
        "requested": lang.day(lang.local_date(ret.requested_at)),
        "number": ret.order.number,
        "items": [
            {
                "title": item.line_item.title,
                "variant": item.line_item.variant_title,
                "quantity": item.quantity,
                "reason": lang._(words.REASONS[Reason(item.reason)]),
                "exchange": item.exchange_title,
            }
            for item in ret.items
        ],
        "resolution": lang._(words.RESOLUTIONS[Resolution(ret.resolution)][0]),
        "method": lang._(words.METHODS[method][0]),
        "method_code": method.value,
        "sending": sending,
        "label_url": f"/r/{quote(token)}/label.pdf" if has_label else None,
        "qr_url": f"/r/{quote(token)}/qr.svg" if sending else None,
        "money": {
            "refund": money(ret.refund_minor) if ret.refund_minor else None,
            "credit": money(ret.credit_minor) if ret.credit_minor else None,
            "bonus": money(ret.bonus_minor) if ret.bonus_minor else None,
            "fee": money(ret.fee_minor) if ret.fee_minor else None,
            "charge": money(ret.charge_minor) if ret.charge_minor else None,
        },
        "tracking_url": f"/t/{quote(ret.order.status_token)}{suffix}",
    }


@router.get("/r/{token}")
def status_page(token: str, request: Request, db: Db, lang: LangQuery = None) -> Response:
    with read_transaction(db) as session:
        found = _find(request, session, token, lang)
        if found is None:
            code = i18n.negotiate(lang, None, request.headers.get("accept-language"), None)
            return render.gone(i18n.lang(code, None))
        body = render.page("return_status.html", found.lang, _context(request, session, found, token))
    return render.html(body, 200, {"Cache-Control": "private, no-cache", "Vary": "Accept-Language"})


def _not_here() -> Response:
    return render.secure(
        Response("Not found", status_code=404, media_type="text/plain", headers=FILE_HEADERS)
    )


@router.get("/r/{token}/label.pdf")
def label_pdf(token: str, request: Request, db: Db) -> Response:
    with read_transaction(db) as session:
        found = _find(request, session, token, None)
        if found is None or Status(found.request.status) not in SENDING:
            return _not_here()
        if Method(found.request.method) is not Method.label:
            return _not_here()
        facts = _label_facts(session, found.request, found.store.name)
        if facts is None:
            return _not_here()
        rma = found.request.rma
    headers = {**FILE_HEADERS, "Content-Disposition": f'attachment; filename="return-{rma}.pdf"'}
    return render.secure(Response(labels.render_label(facts), media_type="application/pdf", headers=headers))


@router.get("/r/{token}/qr.{kind}")
def qr_code(token: str, kind: str, request: Request, db: Db) -> Response:
    if kind not in ("svg", "png"):
        return _not_here()
    with read_transaction(db) as session:
        found = _find(request, session, token, None)
        if found is None or Status(found.request.status) not in SENDING:
            return _not_here()
        return_id = found.request.public_id
    if kind == "png":
        return render.secure(Response(labels.qr_png(return_id), media_type="image/png", headers=FILE_HEADERS))
    svg = labels.qr_svg(return_id, title="QR code")
    return render.secure(Response(svg, media_type="image/svg+xml", headers=FILE_HEADERS))
