"""Shopify's standard order export (Admin → Orders → Export, ``orders_export.csv``) → Doorstep drafts.

One row per line item; the order's own fields (e-mail, totals, addresses, dates) are filled on its first
row only, and later rows of the same order repeat just ``Name`` and the ``Lineitem …`` columns. Times
look like ``2024-03-01 10:15:22 -0500``; amounts are decimals in the order's ``Currency``.

Mapping: ``Id`` (else ``Name``) → order external id, ``Name`` → number, ``Email``/``Billing Name``/
``Phone`` → customer (matched by e-mail), ``Lineitem …`` → lines, ``Subtotal``/``Shipping``/``Taxes``/
``Discount Amount``/``Total`` → money, ``Shipping …`` → shipping address, ``Cancelled at`` → cancelled,
``Payment Method``/``Payment Reference`` → one payment of ``Total`` when ``Financial Status`` says it
was paid, and, when ``Fulfilled at`` is set, one parcel with an ``in_transit`` scan at that time (the
export has no tracking numbers, so the parcel is numbered after the order).
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pydantic_core import PydanticCustomError

from doorstep.core import fields
from doorstep.core.money import is_currency, to_minor
from doorstep.imports.drafts import (
    CustomerDraft,
    LineDraft,
    OrderDraft,
    PaymentDraft,
    ScanDraft,
    ShipmentDraft,
)
from doorstep.imports.rejects import Rejects, read_csv
from doorstep.shipments.status import Status

REQUIRED = ("Name", "Created at", "Currency", "Lineitem quantity", "Lineitem name", "Lineitem price")
PAID = frozenset({"paid", "partially_refunded", "refunded", "partially_paid"})
CARRIER = "unknown"

Row = dict[str, str]


class Unusable(ValueError):
    """A row that cannot become part of a draft; its message is the reject reason."""


def _time(value: str, column: str) -> datetime | None:
    value = value.strip()
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace(" -", "-").replace(" +", "+"))
    except ValueError:
        parsed = None
    if parsed is not None and parsed.tzinfo is not None:
        return parsed
    raise Unusable(f"{column} {value!r} is not a time like 2024-03-01 10:15:22 -0500")


def _money(value: str, currency: str, column: str) -> int:
    if not value.strip():
        return 0
    try:
        return to_minor(value, currency)
    except ValueError as exc:
        raise Unusable(f"{column} {value!r} is not an amount in {currency}") from exc


def _optional(value: str | None) -> str | None:
    return (value or "").strip() or None


@dataclass
class _Pending:
    line: int
    head: Row
    items: list[tuple[int, Row]] = field(default_factory=list)


@dataclass
class ShopifyExport:
    path: Path
    orders: list[OrderDraft]

    def batches(self, rejects: Rejects, *, size: int) -> Iterator[list[OrderDraft]]:
        """The orders in batches of ``size``. ``rejects`` is there to match other sources (see
        ``doorstep.imports.pipeline.BatchSource``): every unusable row was reported by :func:`read`."""
        for start in range(0, len(self.orders), size):
            yield self.orders[start : start + size]


def read(path: Path, rejects: Rejects) -> ShopifyExport:
    """Parse an export; each unusable order or line goes to ``rejects`` with its line and reason."""
    header, records = read_csv(path)
    missing = [column for column in REQUIRED if column not in header]
    if missing:
        raise ValueError(f"{path.name} is not a Shopify order export: no column {', '.join(missing)}")
    pending: dict[str, _Pending] = {}
    for line, values in records:
        if len(values) != len(header):
            rejects.add(path, line, f"{len(values)} fields where the header has {len(header)}")
            continue
        row = dict(zip(header, values, strict=True))
        name = row["Name"].strip()
        if not name:
            rejects.add(path, line, "Name is empty, so the row belongs to no order")
            continue
        group = pending.get(name)
        if group is None:
            group = pending[name] = _Pending(line, row)
        group.items.append((line, row))
    orders: list[OrderDraft] = []
    for name, group in pending.items():
        try:
            orders.append(_draft(name, group))
        except Unusable as exc:
            rejects.add(path, group.line, f"order {name}: {exc}")
    return ShopifyExport(path, orders)


def _customer(head: Row) -> CustomerDraft | None:
    email = _optional(head.get("Email"))
    phone = _optional(head.get("Phone")) or _optional(head.get("Billing Phone"))
    try:
        email = fields.normalize_email(email) if email else None
    except PydanticCustomError as exc:
        raise Unusable(f"Email {email!r} is not an e-mail address") from exc
    try:
        phone = fields.normalize_phone(phone) if phone else None
    except PydanticCustomError:
        phone = None  # a local number without country code: kept on the address, not the customer
    if email is None:
        return None
    first, _, last = (_optional(head.get("Billing Name")) or "").partition(" ")
    return CustomerDraft(
        external_id=None, email=email, phone=phone, first_name=first or None, last_name=last or None
    )


def _address(head: Row) -> dict[str, str] | None:
    country = (_optional(head.get("Shipping Country")) or "").upper()
    if len(country) != 2:
        return None
    parts = {
        "name": head.get("Shipping Name"),
        "company": head.get("Shipping Company"),
        "line1": head.get("Shipping Address1"),
        "line2": head.get("Shipping Address2"),
        "city": head.get("Shipping City"),
        "region": head.get("Shipping Province"),
        "postal_code": (head.get("Shipping Zip") or "").lstrip("'"),
        "country": country,
        "phone": head.get("Shipping Phone"),
    }
    return {key: value.strip() for key, value in parts.items() if value and value.strip()}


def _draft(name: str, group: _Pending) -> OrderDraft:
    head = group.head
    currency = head["Currency"].strip().upper()
    if not is_currency(currency):
        raise Unusable(f"Currency {head['Currency']!r} is not an ISO 4217 code")
    placed = _time(head["Created at"], "Created at")
    if placed is None:
        raise Unusable("Created at is empty")
    lines: list[LineDraft] = []
    for index, (line, row) in enumerate(group.items, start=1):
        try:
            quantity = int(row["Lineitem quantity"])
        except ValueError as exc:
            raise Unusable(
                f"line {line}: Lineitem quantity {row['Lineitem quantity']!r} is not a number"
            ) from exc
        title = row["Lineitem name"].strip()
        if quantity < 1 or not title:
            raise Unusable(f"line {line}: a line item needs a name and a quantity of at least 1")
        lines.append(
            LineDraft(
                external_id=str(index),
                title=title[:500],
                quantity=quantity,
                unit_price_minor=_money(row["Lineitem price"], currency, f"line {line}: Lineitem price"),
                discount_minor=_money(
                    row.get("Lineitem discount", ""), currency, f"line {line}: Lineitem discount"
                ),
                sku=_optional(row.get("Lineitem sku")),
            )
        )
    total = _money(head.get("Total", ""), currency, "Total") if _optional(head.get("Total")) else None
    paid = (head.get("Financial Status") or "").strip().lower() in PAID
    payments = (
        (
            PaymentDraft(
                sequence=1,
                method=(_optional(head.get("Payment Method")) or "unknown")[:40],
                installments=1,
                amount_minor=total,
                reference=(_optional(head.get("Payment Reference")) or "")[:200] or None,
            ),
        )
        if paid and total is not None
        else ()
    )
    external_id = _optional(head.get("Id")) or name
    address = _address(head)
    fulfilled = _time(head.get("Fulfilled at", ""), "Fulfilled at")
    shipment = (
        ShipmentDraft(
            carrier=CARRIER,
            tracking_number=f"SHOPIFY-{external_id}".upper(),
            service=_optional(head.get("Shipping Method")),
            scans=(
                ScanDraft(
                    fulfilled,
                    Status.in_transit,
                    "fulfilled",
                    "Fulfilled in Shopify",
                    country=(address or {}).get("country"),
                ),
            ),
        )
        if fulfilled
        else None
    )
    tags = tuple(tag.strip() for tag in (head.get("Tags") or "").split(",") if tag.strip())
    cancelled = _time(head.get("Cancelled at", ""), "Cancelled at")
    return OrderDraft(
        external_id=external_id[:100],
        number=name[:64],
        placed_at=placed,
        currency=currency,
        lines=tuple(lines),
        customer=_customer(head),
        shipping_minor=_money(head.get("Shipping", ""), currency, "Shipping"),
        tax_minor=_money(head.get("Taxes", ""), currency, "Taxes"),
        discount_minor=_money(head.get("Discount Amount", ""), currency, "Discount Amount"),
        total_minor=total,
        shipping_address=address,
        tags=tags,
        note=_optional(head.get("Notes")),
        cancelled_at=cancelled,
        cancel_reason="cancelled in Shopify" if cancelled else None,
        payments=payments,
        shipment=shipment,
    )
