"""The shopper's returns portal: start a return in three steps, then follow it at ``/r/{return token}``.

``/r/new/{order token}`` (the tracking page's token: whoever may see the order may return from it)
1. items: which items, how many, why, an optional comment and photos (multipart, sniffed, size-limited);
2. options: refund, store credit (with the store's bonus), exchange for another variant, or keep-it when
   the policy allows, and how the parcel travels (prepaid label, printerless QR code, in store);
3. review: the server's quote (``returns.service.quote_return``), then confirm.

Every step is POST-redirect-GET with a CSRF token; the answers so far travel as a sealed draft
(``portal.forms``) and nothing is written until the shopper confirms, except uploaded photos. A form
changed by hand (a draft, another order's item, a total) is refused with a clear message and changes
nothing. The money is never read from the form: the service prices the return again on confirm, and
refuses it if the total differs from what the review page showed.
"""

import re
import secrets
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from doorstep.core.errors import Conflict, DoorstepError, Invalid
from doorstep.db import read_transaction, transaction
from doorstep.orders.models import Order
from doorstep.portal import forms
from doorstep.portal import return_pages as pages
from doorstep.portal import return_words as words
from doorstep.returns import photos as photo_service
from doorstep.returns import service as return_service
from doorstep.returns.commands import CreateReturn, ProposeReturn, ReturnItemInput
from doorstep.returns.lifecycle import Status
from doorstep.returns.policy import Method, Quote, Reason, Resolution
from doorstep.web.deps import Db

router = APIRouter(include_in_schema=False)

# Forms that carry photos; the body-size guard gives them the portal's upload limit (app.py).
UPLOAD_PATHS = re.compile(r"^/(?:r/new/[^/]{16,64}/items|t/[^/]{16,64}/problem/\d{1,3})$")
WIZARD = ("Items", "Options", "Review")
LangQuery = Annotated[str | None, Query(max_length=16)]


# --- step 1: items -----------------------------------------------------------------------------------


@dataclass
class ItemView:
    id: str
    title: str
    variant_title: str | None
    image_url: str | None
    ordered: int
    returnable: int
    eligible: bool
    why: str
    keep_it: bool
    exchange_only: bool
    resolutions: tuple[Resolution, ...]
    unit_price: str


def _items(
    session: Session, order: Order, shop: pages.Shop
) -> tuple[list[ItemView], return_service.OrderEligibility]:
    eligibility = return_service.get_eligibility(session, store_id=order.store_id, order_id=order.public_id)
    verdicts = {e.line_item_id: e for e in eligibility.items}
    views: list[ItemView] = []
    for line in order.line_items:
        verdict = verdicts[line.public_id]
        image = line.image_url if line.image_url and line.image_url.startswith("https://") else None
        views.append(
            ItemView(
                line.public_id, line.title, line.variant_title, image, line.quantity,
                verdict.returnable_quantity, verdict.eligible,
                words.ineligible(shop.lang, verdict.reason, verdict.window_ends_at),
                line.public_id in eligibility.keep_it_line_ids, verdict.is_exchange_only, verdict.resolutions,
                shop.lang.money(line.unit_price_minor, order.currency),
            )
        )  # fmt: skip
    return views, eligibility


def _draft_items(draft: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    if not draft:
        return {}
    return {str(i["id"]): i for i in draft.get("items", []) if isinstance(i, dict) and "id" in i}


def _items_context(
    request: Request, session: Session, shop: pages.Shop, order: Order, items: list[ItemView], chosen: dict[str, dict[str, Any]],
    token: str, draft: str, errors: list[str], policy_photo_reasons: tuple[Reason, ...],
) -> dict[str, Any]:  # fmt: skip
    settings = request.app.state.settings.portal
    context = shop.base(shop.lang._("Start a return"), request)
    context.update(
        number=order.number, items=items, chosen=chosen, errors=errors, draft=draft, wizard_steps=_wizard(shop, 0),
        action=pages.url_for(f"/r/new/{quote(token)}/items", shop), reasons=list(words.REASONS.items()),
        photo_reasons=", ".join(shop.lang._(words.REASONS[r]) for r in policy_photo_reasons),
        photo_limit_mb=f"{settings.photo_max_bytes / 1_000_000:g}", photos_per_item=settings.photos_per_item,
        any_eligible=any(i.eligible for i in items), tracking_url=pages.url_for(f"/t/{quote(token)}", shop),
        earlier=[
            (r.rma, shop.lang._(words.HEADLINES[Status(r.status)][0]), pages.url_for(f"/r/{quote(r.token)}", shop))
            for r in return_service.list_for_order(session, store_id=order.store_id, order_id=order.public_id)
        ],
    )  # fmt: skip
    return context


def _wizard(shop: pages.Shop, current: int) -> list[dict[str, str]]:
    return [
        {
            "label": shop.lang._(label),
            "state": "done" if n < current else "current" if n == current else "todo",
        }
        for n, label in enumerate(WIZARD)
    ]


@router.get("/r/new/{token}")
def items_page(
    token: str, request: Request, db: Db, lang: LangQuery = None, d: str | None = None
) -> Response:
    draft = forms.unseal(d, pages.secret_of(request)) if d else None
    with read_transaction(db) as session:
        order = pages.find_order(request, session, token)
        if order is None:
            return pages.gone(request, lang)
        shop = pages.shop_for(request, session, order, lang)
        if d and (draft is None or draft.get("o") != order.public_id):
            return pages.refused(
                request, shop, pages.stale_message(shop), back=pages.url_for(f"/r/new/{quote(token)}", shop)
            )
        items, _ = _items(session, order, shop)
        policy = return_service.get_policy(session, store_id=order.store_id)
        context = _items_context(
            request,
            session,
            shop,
            order,
            items,
            _draft_items(draft),
            token,
            d or "",
            [],
            policy.photos_required_for,
        )
    return pages.form_page(request, "return_items.html", shop, context, scope=f"items:{token}")


def _uploads(form: FormData, name: str) -> list[UploadFile]:
    return [f for f in form.getlist(name) if isinstance(f, UploadFile) and (f.filename or f.size)]


@router.post("/r/new/{token}/items")
async def items_submit(token: str, request: Request, db: Db, lang: LangQuery = None) -> Response:
    settings = request.app.state.settings.portal
    secret = pages.secret_of(request)
    limit = settings.photo_max_bytes
    async with request.form(
        max_files=settings.photos_per_item * 100, max_fields=1000, max_part_size=64 * 1024
    ) as form:
        files: dict[str, list[tuple[str, bytes]]] = {}
        for key in {k for k in form if k.startswith("photos-")}:
            files[key[len("photos-") :]] = [
                (f.filename or "", await f.read(limit + 1)) for f in _uploads(form, key)
            ]
        return await run_in_threadpool(_save_items, token, request, db, form, files, secret, lang)


def _save_items(
    token: str, request: Request, db: Db, form: FormData, files: dict[str, list[tuple[str, bytes]]],
    secret: str, explicit: str | None,
) -> Response:  # fmt: skip
    explicit = forms.text(form, "lang", limit=16) or explicit
    max_photos = request.app.state.settings.portal.photos_per_item
    limit = request.app.state.settings.portal.photo_max_bytes
    with transaction(db) as session:
        order = pages.find_order(request, session, token)
        if order is None:
            return pages.gone(request, explicit)
        shop = pages.shop_for(request, session, order, explicit)
        start = pages.url_for(f"/r/new/{quote(token)}", shop)
        if not forms.check_csrf(request, form, secret, f"items:{token}"):
            return pages.refused(request, shop, pages.csrf_message(shop), back=start, status=403)
        sealed = forms.text(form, "d", limit=forms.MAX_DRAFT_CHARS)
        previous = forms.unseal(sealed, secret) if sealed else {}
        if previous is None or (previous and previous.get("o") != order.public_id):
            return pages.refused(request, shop, pages.stale_message(shop), back=start)
        items, _ = _items(session, order, shop)
        by_id = {i.id: i for i in items}
        policy = return_service.get_policy(session, store_id=order.store_id)
        kept = _draft_items(previous)
        selected = [str(v) for v in form.getlist("item")]
        if any(line_id not in by_id for line_id in selected) or len(set(selected)) != len(selected):
            message = shop.lang._(
                "The form named an item that is not part of this order. Nothing was changed: reload the page and choose again."
            )
            return pages.refused(request, shop, message, back=start)
        _ = shop.lang._
        errors: list[str] = []
        chosen: dict[str, dict[str, Any]] = {}
        uploads: dict[str, list[photo_service.Photo]] = {}
        for line_id in selected:
            item = by_id[line_id]
            entry: dict[str, Any] = {"id": line_id, "q": 1, "r": "", "c": "", "p": []}
            chosen[line_id] = entry
            if not item.eligible:
                errors.append(_("{item}: {why}", item=item.title, why=item.why))
                continue
            raw_qty = forms.text(form, f"qty-{line_id}", limit=6)
            if not raw_qty.isdigit() or not 1 <= int(raw_qty) <= item.returnable:
                errors.append(
                    _("{item}: choose a quantity from 1 to {n}.", item=item.title, n=item.returnable)
                )
            else:
                entry["q"] = int(raw_qty)
            reason = forms.text(form, f"reason-{line_id}", limit=32)
            if reason not in {r.value for r in policy.reasons}:
                errors.append(_("{item}: choose a reason.", item=item.title))
            else:
                entry["r"] = reason
            entry["c"] = forms.text(form, f"comment-{line_id}", limit=1000)
            earlier = [str(p) for p in kept.get(line_id, {}).get("p", [])]
            entry["p"] = earlier
            checked: list[photo_service.Photo] = []
            for n, (filename, data) in enumerate(files.get(line_id, [])):
                try:
                    checked.append(
                        photo_service.check_photo(f"photos-{line_id}.{n}", filename, data, max_bytes=limit)
                    )
                except Invalid as exc:
                    problem = exc.problems[0]
                    errors.append(
                        _(
                            "{item}: {problem}",
                            item=item.title,
                            problem=pages.photo_message(shop, problem.message, filename, data, limit),
                        )
                    )
            if len(earlier) + len(checked) > max_photos:
                errors.append(_("{item}: attach at most {n} photos.", item=item.title, n=max_photos))
            if reason in {r.value for r in policy.photos_required_for} and not (earlier or checked):
                errors.append(_("{item}: add a photo that shows the problem.", item=item.title))
            uploads[line_id] = checked
        if not selected:
            errors.append(_("Choose at least one item to return."))
        if errors:
            for line_id, entry in chosen.items():
                entry["p"] = [str(p) for p in kept.get(line_id, {}).get("p", [])]
            context = _items_context(
                request,
                session,
                shop,
                order,
                items,
                chosen,
                token,
                sealed,
                errors,
                policy.photos_required_for,
            )
            session.rollback()
            return pages.form_page(
                request, "return_items.html", shop, context, status=422, scope=f"items:{token}"
            )
        for line_id, checked in uploads.items():
            owned = photo_service.order_photo_ids(
                session, store_id=order.store_id, order_id=order.id, photo_ids=chosen[line_id]["p"]
            )
            ids = [p for p in chosen[line_id]["p"] if p in owned]
            for photo in checked:
                saved = photo_service.save_photo(
                    session, store_id=order.store_id, order_id=order.id, photo=photo
                )
                if saved not in ids:
                    ids.append(saved)
            chosen[line_id]["p"] = ids[:max_photos]
        # A new nonce per answered step: confirming the same review twice is one return, while a return
        # changed after an earlier confirmation is a new one.
        draft = {
            **(previous or {}), "v": 1, "o": order.public_id, "k": secrets.token_urlsafe(16),
            "items": list(chosen.values()),
        }  # fmt: skip
        return pages.redirect(
            pages.url_for(f"/r/new/{quote(token)}/options", shop, d=forms.seal(draft, secret))
        )


# --- step 2: resolution and method ---------------------------------------------------------------------


def _open_draft(
    request: Request, session: Session, token: str, sealed: str | None, explicit: str | None
) -> tuple[Order, pages.Shop, dict[str, Any]] | Response:
    order = pages.find_order(request, session, token)
    if order is None:
        return pages.gone(request, explicit)
    shop = pages.shop_for(request, session, order, explicit)
    draft = forms.unseal(sealed, pages.secret_of(request))
    if draft is None or draft.get("o") != order.public_id or not draft.get("items"):
        return pages.refused(
            request, shop, pages.stale_message(shop), back=pages.url_for(f"/r/new/{quote(token)}", shop)
        )
    return order, shop, draft


def _offers(
    items: list[ItemView], chosen: dict[str, dict[str, Any]], eligibility: return_service.OrderEligibility,
    keep_reasons: tuple[Reason, ...],
) -> list[Resolution]:  # fmt: skip
    """Resolutions every chosen item allows (exchange-only items narrow it); keep-it when all qualify."""
    by_id = {i.id: i for i in items}
    offered = [r for r in eligibility.resolutions if all(r in by_id[i].resolutions for i in chosen)]
    if all(by_id[i].keep_it or Reason(chosen[i]["r"]) in keep_reasons for i in chosen):
        offered.append(Resolution.keep)
    return offered


def _options_context(
    request: Request, session: Session, order: Order, shop: pages.Shop, token: str, sealed: str, draft: dict[str, Any],
    errors: list[str],
) -> dict[str, Any]:  # fmt: skip
    items, eligibility = _items(session, order, shop)
    policy = return_service.get_policy(session, store_id=order.store_id)
    chosen = _draft_items(draft)
    by_id = {i.id: i for i in items}
    exchange = []
    for line_id in chosen:
        line = next(li for li in order.line_items if li.public_id == line_id)
        options = return_service.list_exchange_options(session, store_id=order.store_id, line_item_id=line_id)
        exchange.append({
            "item": by_id[line_id], "current": line.variant_id,
            "options": [(o.variant_id, o.variant_title or o.title, shop.lang.money(o.unit_price_minor, o.currency))
                        for o in options],
            "chosen": (draft.get("x") or {}).get(line_id) or "",
        })  # fmt: skip
    offered = _offers(items, chosen, eligibility, policy.keep_it.reasons)
    bonus = policy.store_credit.bonus_percent
    context = shop.base(shop.lang._("How would you like it resolved?"), request)
    context.update(
        number=order.number, errors=errors, draft=sealed, wizard_steps=_wizard(shop, 1), exchange=exchange,
        resolutions=[(r, *words.RESOLUTIONS[r]) for r in offered], offers_exchange=Resolution.exchange in offered,
        offers_keep=Resolution.keep in offered, methods=[(m, *words.METHODS[m]) for m in policy.methods],
        bonus=bonus, chosen_resolution=draft.get("res") or "", chosen_method=draft.get("m") or "",
        action=pages.url_for(f"/r/new/{quote(token)}/options", shop),
        back=pages.url_for(f"/r/new/{quote(token)}", shop, d=sealed),
    )  # fmt: skip
    return context


@router.get("/r/new/{token}/options")
def options_page(
    token: str, request: Request, db: Db, d: str | None = None, lang: LangQuery = None
) -> Response:
    with read_transaction(db) as session:
        opened = _open_draft(request, session, token, d, lang)
        if isinstance(opened, Response):
            return opened
        order, shop, draft = opened
        context = _options_context(request, session, order, shop, token, d or "", draft, [])
    return pages.form_page(request, "return_options.html", shop, context, scope=f"options:{token}")


@router.post("/r/new/{token}/options")
async def options_submit(token: str, request: Request, db: Db, lang: LangQuery = None) -> Response:
    async with request.form(max_files=0, max_fields=300, max_part_size=64 * 1024) as form:
        return await run_in_threadpool(_save_options, token, request, db, form, lang)


def _save_options(token: str, request: Request, db: Db, form: FormData, explicit: str | None) -> Response:
    explicit = forms.text(form, "lang", limit=16) or explicit
    sealed = forms.text(form, "d", limit=forms.MAX_DRAFT_CHARS)
    secret = pages.secret_of(request)
    with read_transaction(db) as session:
        opened = _open_draft(request, session, token, sealed, explicit)
        if isinstance(opened, Response):
            return opened
        order, shop, draft = opened
        if not forms.check_csrf(request, form, secret, f"options:{token}"):
            return pages.refused(
                request,
                shop,
                pages.csrf_message(shop),
                back=pages.url_for(f"/r/new/{quote(token)}", shop),
                status=403,
            )
        _ = shop.lang._
        items, eligibility = _items(session, order, shop)
        policy = return_service.get_policy(session, store_id=order.store_id)
        chosen = _draft_items(draft)
        offered = _offers(items, chosen, eligibility, policy.keep_it.reasons)
        errors: list[str] = []
        resolution = forms.text(form, "resolution", limit=20)
        method = forms.text(form, "method", limit=20)
        variants: dict[str, str] = {}
        if resolution not in {r.value for r in offered}:
            errors.append(_("Choose how you would like the return resolved."))
        if resolution == Resolution.exchange.value:
            for line_id in chosen:
                wanted = forms.text(form, f"variant-{line_id}", limit=100)
                allowed = {
                    o.variant_id
                    for o in return_service.list_exchange_options(
                        session, store_id=order.store_id, line_item_id=line_id
                    )
                }
                title = next(i.title for i in items if i.id == line_id)
                if wanted not in allowed:
                    errors.append(_("{item}: choose the size or colour you want instead.", item=title))
                variants[line_id] = wanted
        if resolution == Resolution.keep.value:
            method = Method.none.value
        elif method not in {m.value for m in policy.methods}:
            errors.append(_("Choose how you will send the items back."))
        draft = {**draft, "res": resolution, "m": method, "x": variants, "k": secrets.token_urlsafe(16)}
        if errors:
            context = _options_context(request, session, order, shop, token, sealed, draft, errors)
            return pages.form_page(
                request, "return_options.html", shop, context, status=422, scope=f"options:{token}"
            )
        return pages.redirect(
            pages.url_for(f"/r/new/{quote(token)}/review", shop, d=forms.seal(draft, secret))
        )


# --- step 3: review and confirm ------------------------------------------------------------------------


def _proposal(draft: dict[str, Any]) -> CreateReturn:
    """The draft as the service's command (ValidationError when the draft is incomplete)."""
    variants = draft.get("x") or {}
    return CreateReturn(
        items=tuple(
            ReturnItemInput(
                line_item_id=str(i["id"]), quantity=int(i["q"]), reason=Reason(i["r"]),
                comment=str(i.get("c") or "") or None, photos=tuple(str(p) for p in i.get("p", [])),
                exchange_variant_id=variants.get(str(i["id"])) if draft.get("res") == Resolution.exchange.value else None,
            )
            for i in draft["items"]
        ),
        resolution=Resolution(str(draft.get("res"))),
        method=Method(str(draft.get("m"))),
        idempotency_key=f"portal:{draft.get('k')}",
    )  # fmt: skip


def _breakdown(shop: pages.Shop, quoted: Quote, exchange_for: dict[str, str]) -> dict[str, Any]:
    def money(minor: int) -> str:
        return shop.lang.money(minor, quoted.currency)

    return {
        "lines": [
            {"title": line.title, "quantity": line.quantity, "reason": shop.lang._(words.REASONS[line.reason]),
             "value": money(line.value_minor), "keep": line.is_keep_it,
             "exchange_for": exchange_for.get(line.line_item_id)}
            for line in quoted.lines
        ],
        "items_total": money(quoted.items_minor),
        "fee": money(quoted.fee_minor) if quoted.fee_minor else None,
        "fee_waived": bool(quoted.fee_waived_reason),
        "bonus": money(quoted.bonus_minor) if quoted.bonus_minor else None,
        "exchange": money(quoted.exchange_minor) if quoted.exchange_minor else None,
        "refund": money(quoted.refund_minor) if quoted.refund_minor else None,
        "credit": money(quoted.credit_minor) if quoted.credit_minor else None,
        "charge": money(quoted.charge_minor) if quoted.charge_minor else None,
        "total": money(quoted.total_minor),
        "total_minor": quoted.total_minor,
        "resolution": quoted.resolution,
        "keep": quoted.is_keep_it,
    }  # fmt: skip


def _problem_messages(shop: pages.Shop, error: DoorstepError) -> list[str]:
    return [p.message for p in error.problems] or [error.detail]


def _review_context(
    request: Request, session: Session, order: Order, shop: pages.Shop, token: str, sealed: str, draft: dict[str, Any],
    errors: list[str],
) -> dict[str, Any]:  # fmt: skip
    context = shop.base(shop.lang._("Review your return"), request)
    context.update(
        number=order.number, draft=sealed, wizard_steps=_wizard(shop, 2), errors=list(errors), quote=None,
        action=pages.url_for(f"/r/new/{quote(token)}/confirm", shop), back=pages.url_for(f"/r/new/{quote(token)}/options", shop, d=sealed),
        method=words.METHODS[Method(draft.get("m") or "none")][0],
    )  # fmt: skip
    try:
        command = _proposal(draft)
        quoted = return_service.quote_return(
            session, store_id=order.store_id, order_id=order.public_id,
            cmd=ProposeReturn(items=command.items, resolution=command.resolution, method=command.method),
        )  # fmt: skip
    except ValidationError:
        context["errors"].append(pages.stale_message(shop))
        return context
    except Invalid as exc:
        context["errors"].extend(_problem_messages(shop, exc))
        return context
    exchange_for: dict[str, str] = {}
    for item in command.items if command.resolution is Resolution.exchange else ():
        options = return_service.list_exchange_options(
            session, store_id=order.store_id, line_item_id=item.line_item_id
        )
        chosen = next((o for o in options if o.variant_id == item.exchange_variant_id), None)
        if chosen is not None:
            exchange_for[item.line_item_id] = chosen.variant_title or chosen.title
    context["quote"] = _breakdown(shop, quoted, exchange_for)
    return context


@router.get("/r/new/{token}/review")
def review_page(
    token: str, request: Request, db: Db, d: str | None = None, lang: LangQuery = None
) -> Response:
    with read_transaction(db) as session:
        opened = _open_draft(request, session, token, d, lang)
        if isinstance(opened, Response):
            return opened
        order, shop, draft = opened
        context = _review_context(request, session, order, shop, token, d or "", draft, [])
    status = 200 if context["quote"] else 422
    return pages.form_page(
        request, "return_review.html", shop, context, status=status, scope=f"confirm:{token}"
    )


@router.post("/r/new/{token}/confirm")
async def confirm(token: str, request: Request, db: Db, lang: LangQuery = None) -> Response:
    async with request.form(max_files=0, max_fields=20, max_part_size=64 * 1024) as form:
        return await run_in_threadpool(_confirm, token, request, db, form, lang)


def _confirm(token: str, request: Request, db: Db, form: FormData, explicit: str | None) -> Response:
    explicit = forms.text(form, "lang", limit=16) or explicit
    sealed = forms.text(form, "d", limit=forms.MAX_DRAFT_CHARS)
    expected = forms.text(form, "expected_total", limit=20)
    with transaction(db) as session:
        opened = _open_draft(request, session, token, sealed, explicit)
        if isinstance(opened, Response):
            return opened
        order, shop, draft = opened
        if not forms.check_csrf(request, form, pages.secret_of(request), f"confirm:{token}"):
            back = pages.url_for(f"/r/new/{quote(token)}/review", shop, d=sealed)
            return pages.refused(request, shop, pages.csrf_message(shop), back=back, status=403)
        if not expected.isdigit():
            message = shop.lang._(
                "The total in the form was changed. Nothing was changed: review your return again."
            )
            return pages.refused(
                request, shop, message, back=pages.url_for(f"/r/new/{quote(token)}/review", shop, d=sealed)
            )
        try:
            command = _proposal(draft).model_copy(update={"expected_total_minor": int(expected)})
            created = return_service.create_return(
                session, store_id=order.store_id, order_id=order.public_id, cmd=command
            )
        except ValidationError:
            return pages.refused(
                request, shop, pages.stale_message(shop), back=pages.url_for(f"/r/new/{quote(token)}", shop)
            )
        except (Invalid, Conflict) as exc:
            session.rollback()
            errors = [shop.lang._("The amount changed since you reviewed it. Check the new amount and confirm again.")] \
                if isinstance(exc, Conflict) and any(p.field == "expected_total_minor" for p in exc.problems) \
                else _problem_messages(shop, exc)  # fmt: skip
            context = _review_context(request, session, order, shop, token, sealed, draft, errors)
            return pages.form_page(
                request, "return_review.html", shop, context, status=exc.status, scope=f"confirm:{token}"
            )
        target = created.return_request.token
    return pages.redirect(pages.url_for(f"/r/{quote(target)}", shop))
