"""``/t/{token}/problem/{n}``: report a problem with parcel ``n`` of an order (package protection).

Which problems can be reported is the domain's call (``returns.claims.claimable``: lost after a lost
exception or a stall, stolen some hours after a delivery scan, damaged or wrong item once delivered);
the form lists every kind, the unavailable ones with the reason in plain words. The claim's value is
computed by the service from the order, never read from the form. Filing twice with the same form is
one claim (the form's nonce is the idempotency key).
"""

import secrets
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from doorstep.core.errors import Conflict, Invalid, NotFound
from doorstep.db import read_transaction, transaction
from doorstep.orders.models import Order
from doorstep.portal import forms, render
from doorstep.portal import return_pages as pages
from doorstep.returns import claims as claim_service
from doorstep.returns import photos as photo_service
from doorstep.returns.commands import ClaimItemInput, ClaimKind, ClaimResolution, FileClaim
from doorstep.shipments import service as shipment_service
from doorstep.shipments.models import Shipment
from doorstep.web.deps import Db

router = APIRouter(include_in_schema=False)
LangQuery = Annotated[str | None, Query(max_length=16)]

KINDS: dict[ClaimKind, tuple[str, str]] = {
    ClaimKind.lost: ("Lost", "The parcel never arrived and the carrier lost track of it."),
    ClaimKind.stolen: ("Delivered but not received", "The carrier says delivered, but you don't have it."),
    ClaimKind.damaged: ("Damaged", "The parcel or items arrived damaged."),
    ClaimKind.wrong_item: ("Wrong item", "You received something you did not order."),
}
WHY_NOT: dict[str, str] = {
    "return_parcel": "Claims are for parcels sent to you, not returns.",
    "window_closed": "Problems with this order can no longer be reported online; contact the store.",
    "not_lost": "The carrier still reports this parcel as on its way.",
    "not_delivered_yet": "You can report this once the parcel has arrived.",
    "too_soon": "Parcels marked delivered sometimes turn up late; you can report it missing from {when}.",
}
RESOLUTIONS: dict[ClaimResolution, str] = {
    ClaimResolution.reship: "Send me a replacement",
    ClaimResolution.refund: "Refund me",
}
STATUS: dict[str, tuple[str, str]] = {
    "filed": ("We received your report", "The store will review it and get back to you by e-mail."),
    "approved": ("Your claim was approved", "We are arranging your replacement or refund."),
    "resolved": ("Your claim is settled", ""),
    "rejected": ("Your claim was declined", ""),
}


def _parcel(session: Session, order: Order, n: int) -> Shipment | None:
    parcels = shipment_service.list_order_parcels(session, store_id=order.store_id, order_id=order.id)
    return parcels[n - 1][0] if 1 <= n <= len(parcels) else None


def _options(shop: pages.Shop, session: Session, order: Order, parcel: Shipment) -> list[dict[str, Any]]:
    found = claim_service.claimable(session, store_id=order.store_id, shipment_id=parcel.public_id)
    options = []
    for option in found:
        name, text = KINDS[option.kind]
        when = ""
        if option.available_at is not None:
            moment = option.available_at
            when = f"{shop.lang.day(shop.lang.local_date(moment))}, {shop.lang.time(moment)}"
        why = (
            shop.lang._(WHY_NOT.get(option.reason or "", option.message or ""), when=when)
            if option.reason
            else ""
        )
        options.append({
            "code": option.kind.value, "name": shop.lang._(name), "text": shop.lang._(text),
            "allowed": option.allowed, "why": why,
        })  # fmt: skip
    return options


def _context(
    request: Request, session: Session, order: Order, shop: pages.Shop, parcel: Shipment, token: str,
    n: int, errors: list[str], form: FormData | None,
) -> dict[str, Any]:  # fmt: skip
    settings = request.app.state.settings.portal
    context = shop.base(shop.lang._("Report a problem"), request)
    options = _options(shop, session, order, parcel)
    picked = {str(v) for v in form.getlist("item")} if form else set()
    context.update(
        number=order.number, errors=errors, options=options, any_allowed=any(o["allowed"] for o in options),
        carrier=parcel.carrier.upper() if len(parcel.carrier) <= 4 else parcel.carrier.title(),
        tracking_number=parcel.tracking_number, nonce=forms.text(form, "k", limit=40) if form else secrets.token_urlsafe(16),
        items=[{"id": si.line_item.public_id, "title": si.line_item.title, "variant": si.line_item.variant_title,
                "quantity": si.quantity, "checked": si.line_item.public_id in picked} for si in parcel.items],
        resolutions=[(r.value, shop.lang._(text)) for r, text in RESOLUTIONS.items()],
        chosen_kind=forms.text(form, "kind", limit=20) if form else "",
        chosen_resolution=forms.text(form, "resolution", limit=20) if form else ClaimResolution.reship.value,
        description=forms.text(form, "description", limit=2000) if form else "",
        photos_per_item=settings.photos_per_item, photo_limit_mb=f"{settings.photo_max_bytes / 1_000_000:g}",
        action=pages.url_for(f"/t/{quote(token)}/problem/{n}", shop),
        tracking_url=pages.url_for(f"/t/{quote(token)}", shop),
    )  # fmt: skip
    return context


@router.get("/t/{token}/problem/{n}")
def claim_page(token: str, n: int, request: Request, db: Db, lang: LangQuery = None) -> Response:
    with read_transaction(db) as session:
        order = pages.find_order(request, session, token)
        parcel = _parcel(session, order, n) if order else None
        if order is None or parcel is None:
            return pages.gone(request, lang)
        shop = pages.shop_for(request, session, order, lang)
        context = _context(request, session, order, shop, parcel, token, n, [], None)
    return pages.form_page(request, "claim_form.html", shop, context, scope=f"claim:{token}:{n}")


@router.post("/t/{token}/problem/{n}")
async def claim_submit(token: str, n: int, request: Request, db: Db, lang: LangQuery = None) -> Response:
    settings = request.app.state.settings.portal
    limit = settings.photo_max_bytes
    async with request.form(
        max_files=settings.photos_per_item + 1, max_fields=300, max_part_size=64 * 1024
    ) as form:
        files = [(f.filename or "", await f.read(limit + 1)) for f in form.getlist("photos")
                 if isinstance(f, UploadFile) and (f.filename or f.size)]  # fmt: skip
        return await run_in_threadpool(_file, token, n, request, db, form, files, lang)


def _file(
    token: str, n: int, request: Request, db: Db, form: FormData, files: list[tuple[str, bytes]],
    explicit: str | None,
) -> Response:  # fmt: skip
    explicit = forms.text(form, "lang", limit=16) or explicit
    settings = request.app.state.settings.portal
    scope = f"claim:{token}:{n}"
    with transaction(db) as session:
        order = pages.find_order(request, session, token)
        parcel = _parcel(session, order, n) if order else None
        if order is None or parcel is None:
            return pages.gone(request, explicit)
        shop = pages.shop_for(request, session, order, explicit)
        back = pages.url_for(f"/t/{quote(token)}/problem/{n}", shop)
        if not forms.check_csrf(request, form, pages.secret_of(request), scope):
            return pages.refused(request, shop, pages.csrf_message(shop), back=back, status=403)
        _ = shop.lang._
        errors: list[str] = []
        kind = forms.text(form, "kind", limit=20)
        if kind not in {k.value for k in ClaimKind}:
            errors.append(_("Choose what happened."))
        resolution = forms.text(form, "resolution", limit=20)
        if resolution not in {r.value for r in ClaimResolution}:
            errors.append(_("Choose a replacement or a refund."))
        in_parcel = {si.line_item.public_id: si.quantity for si in parcel.items}
        picked = [str(v) for v in form.getlist("item")]
        if any(p not in in_parcel for p in picked):
            message = _(
                "The form named an item that is not in this parcel. Nothing was changed: reload the page and choose again."
            )
            return pages.refused(request, shop, message, back=back)
        checked: list[photo_service.Photo] = []
        for index, (filename, data) in enumerate(files):
            try:
                checked.append(
                    photo_service.check_photo(
                        f"photos.{index}", filename, data, max_bytes=settings.photo_max_bytes
                    )
                )
            except Invalid as exc:
                errors.append(
                    pages.photo_message(
                        shop, exc.problems[0].message, filename, data, settings.photo_max_bytes
                    )
                )
        if len(checked) > settings.photos_per_item:
            errors.append(_("Attach at most {n} photos.", n=settings.photos_per_item))
        if not errors:
            evidence = [
                photo_service.save_photo(session, store_id=order.store_id, order_id=order.id, photo=p)
                for p in checked
            ]
            try:
                command = FileClaim(
                    shipment_id=parcel.public_id, kind=ClaimKind(kind), preferred_resolution=ClaimResolution(resolution),
                    description=forms.text(form, "description", limit=2000) or None, evidence=tuple(evidence),
                    items=tuple(ClaimItemInput(line_item_id=p, quantity=in_parcel[p]) for p in picked),
                    idempotency_key="portal:" + (forms.text(form, "k", limit=40) or secrets.token_urlsafe(16)),
                )  # fmt: skip
                claim, _milestones = claim_service.file_claim(
                    session, store_id=order.store_id, order_id=order.public_id, cmd=command
                )
                claim_token = claim.token
            except (Invalid, Conflict, NotFound) as exc:
                errors.extend(_claim_problem(shop, exc))
        if errors:
            session.rollback()
            context = _context(request, session, order, shop, parcel, token, n, errors, form)
            return pages.form_page(request, "claim_form.html", shop, context, status=422, scope=scope)
    target = pages.url_for(f"/t/{quote(token)}/claims/{quote(claim_token)}", shop)
    return render.secure(RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"}))


def _claim_problem(shop: pages.Shop, error: Invalid | Conflict | NotFound) -> list[str]:
    if isinstance(error, Conflict):
        return [shop.lang._("You already reported this problem for this parcel; the store is on it.")]
    if any(p.field == "evidence" for p in error.problems):
        return [shop.lang._("Add a photo that shows the problem.")]
    if any(p.field == "kind" for p in error.problems):
        return [shop.lang._("This problem cannot be reported for this parcel yet.")]
    return [p.message for p in error.problems] or [error.detail]


@router.get("/t/{token}/claims/{claim_token}")
def claim_status(token: str, claim_token: str, request: Request, db: Db, lang: LangQuery = None) -> Response:
    with read_transaction(db) as session:
        order = pages.find_order(request, session, token)
        claim = (
            claim_service.get_claim_by_token(session, store_id=order.store_id, token=claim_token)
            if order
            else None
        )
        if order is None or claim is None or claim.order_id != order.id:
            return pages.gone(request, lang)
        shop = pages.shop_for(request, session, order, lang)
        title, detail = STATUS.get(claim.status, STATUS["filed"])
        context = shop.base(shop.lang._(title), request)
        context.update(
            detail=shop.lang._(detail) if detail else "", number=order.number,
            kind=shop.lang._(KINDS[ClaimKind(claim.kind)][0]),
            resolution=shop.lang._(RESOLUTIONS[ClaimResolution(claim.resolution or claim.preferred_resolution)]),
            reason=claim.decided_reason if claim.status == "rejected" else None,
            amount=shop.lang.money(claim.amount_minor, claim.currency),
            tracking_url=pages.url_for(f"/t/{quote(token)}", shop),
        )  # fmt: skip
        body = render.page("claim_status.html", shop.lang, context)
    return render.html(body, 200, {"Cache-Control": "no-store"})
