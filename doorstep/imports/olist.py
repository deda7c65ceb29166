"""Olist (Brazilian marketplace, Kaggle "olistbr/brazilian-ecommerce") → Doorstep drafts.

Reads the Olist CSV tables from one folder. A table missing there is looked for in ``../full/`` beside it
(the shared data keeps the complete sellers table there). Olist times are local to Brazil
(America/Sao_Paulo) without an offset; prices are decimal BRL. The mapping, in short (docs/imports.md
has the full table):

- ``customer_unique_id`` is the person → customer (external id); ``customer_id`` is per order and only
  joins an order to its person and destination (city, state, zip prefix);
- order → order (external id ``order_id``), each item row → a line of quantity 1, ``freight_value`` summed
  into shipping; ``canceled``/``unavailable`` → cancelled at the last time Olist recorded for it;
- one outbound parcel per order, its scans from the timestamps: approved → ``info_received``, handed to
  the carrier → ``in_transit``, delivered to the customer → ``delivered``; promised on
  ``order_estimated_delivery_date``. Cancelled orders never handed to a carrier get no parcel;
- payments → order payments, reviews → raw review imports, products/categories/sellers → catalog.

``--repeat N`` replays the same orders N times with fresh ids (suffix ``~2``, ``~3``, …), for scale runs.
"""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from doorstep.core.money import to_minor
from doorstep.imports.drafts import (
    CategoryDraft,
    CustomerDraft,
    LineDraft,
    OrderDraft,
    PaymentDraft,
    ProductDraft,
    ReviewDraft,
    ScanDraft,
    SellerDraft,
    ShipmentDraft,
)
from doorstep.imports.rejects import Rejects, read_csv
from doorstep.imports.runner import Catalog
from doorstep.shipments.status import Status

BRAZIL = ZoneInfo("America/Sao_Paulo")
CURRENCY = "BRL"
CARRIER = "olist"
CANCELLED = frozenset({"canceled", "unavailable"})

ORDERS = "olist_orders_dataset.csv"
ITEMS = "olist_order_items_dataset.csv"
PAYMENTS = "olist_order_payments_dataset.csv"
REVIEWS = "olist_order_reviews_dataset.csv"
CUSTOMERS = "olist_customers_dataset.csv"
PRODUCTS = "olist_products_dataset.csv"
SELLERS = "olist_sellers_dataset.csv"
CATEGORIES = "product_category_name_translation.csv"

Row = dict[str, str]


class Unusable(ValueError):
    """A record that cannot become a draft; its message is the reject reason."""


def find_table(directory: Path, name: str) -> Path | None:
    for candidate in (directory / name, directory.parent / "full" / name):
        if candidate.is_file():
            return candidate
    return None


def _table(directory: Path, name: str, rejects: Rejects, *, required: bool = True) -> list[tuple[int, Row]]:
    path = find_table(directory, name)
    if path is None:
        if required:
            raise FileNotFoundError(f"{name} is neither in {directory} nor in {directory.parent / 'full'}")
        return []
    header, records = read_csv(path)
    rows: list[tuple[int, Row]] = []
    for line, values in records:
        if len(values) != len(header):
            rejects.add(path, line, f"{len(values)} fields where the header has {len(header)}")
            continue
        rows.append((line, dict(zip(header, values, strict=True))))
    return rows


def _time(value: str, column: str) -> datetime | None:
    text = value.strip()
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).replace(tzinfo=BRAZIL)
    except ValueError as exc:
        raise Unusable(f"{column} {value!r} is not a date and time") from exc


def _int(value: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    return int(float(value)) if "." in value else int(value)


def _money(value: str, column: str) -> int:
    try:
        return to_minor(value, CURRENCY)
    except ValueError as exc:
        raise Unusable(f"{column} {value!r} is not an amount in {CURRENCY}") from exc


def _place(row: Row, prefix: str) -> dict[str, str]:
    return {
        "city": row[f"{prefix}_city"],
        "region": row[f"{prefix}_state"],
        "postal_code": row[f"{prefix}_zip_code_prefix"],
        "country": "BR",
    }


@dataclass
class OlistData:
    """The parsed tables: catalog drafts now, order drafts on demand (per replay, with fresh ids)."""

    directory: Path
    catalog: Catalog
    orders: list[tuple[int, Row]] = field(default_factory=list)
    items: dict[str, list[tuple[int, Row]]] = field(default_factory=dict)
    payments: dict[str, list[tuple[int, Row]]] = field(default_factory=dict)
    reviews: dict[str, list[tuple[int, Row]]] = field(default_factory=dict)
    customers: dict[str, Row] = field(default_factory=dict)
    product_titles: dict[str, str] = field(default_factory=dict)
    sellers: dict[str, Row] = field(default_factory=dict)

    @property
    def order_count(self) -> int:
        return len(self.orders)

    def batches(self, rejects: Rejects, *, size: int, repeat: int = 1) -> Iterator[list[OrderDraft]]:
        """Order drafts in batches; replays after the first get fresh ids and report no rejects again."""
        batch: list[OrderDraft] = []
        orders_path = self.directory / ORDERS
        for replay in range(1, repeat + 1):
            suffix = "" if replay == 1 else f"~{replay}"
            for line, row in self.orders:
                try:
                    batch.append(self._draft(row, suffix, rejects if replay == 1 else None))
                except Unusable as exc:
                    if replay == 1:
                        rejects.add(orders_path, line, f"order {row.get('order_id', '?')}: {exc}")
                    continue
                if len(batch) >= size:
                    yield batch
                    batch = []
        if batch:
            yield batch

    def _draft(self, row: Row, suffix: str, rejects: Rejects | None) -> OrderDraft:
        order_id = row["order_id"]
        customer = self.customers.get(row["customer_id"])
        if customer is None:
            raise Unusable(f"customer_id {row['customer_id']} is not in {CUSTOMERS}")
        status = row["order_status"]
        placed = _time(row["order_purchase_timestamp"], "order_purchase_timestamp")
        if placed is None:
            raise Unusable("order_purchase_timestamp is empty")
        approved = _time(row["order_approved_at"], "order_approved_at")
        handed = _time(row["order_delivered_carrier_date"], "order_delivered_carrier_date")
        delivered = _time(row["order_delivered_customer_date"], "order_delivered_customer_date")
        estimated = _time(row["order_estimated_delivery_date"], "order_estimated_delivery_date")
        lines: list[LineDraft] = []
        shipping = 0
        items = sorted(self.items.get(order_id, ()), key=lambda item: int(item[1]["order_item_id"] or 0))
        for item_line, item in items:
            try:
                price = _money(item["price"], "price")
                shipping += _money(item["freight_value"], "freight_value")
            except Unusable as exc:
                raise Unusable(f"item on line {item_line} of {ITEMS}: {exc}") from exc
            product = item["product_id"]
            lines.append(
                LineDraft(
                    external_id=item["order_item_id"],
                    title=self.product_titles.get(product) or f"Product {product[:8]}",
                    quantity=1,
                    unit_price_minor=price,
                    product_id=product,
                    seller_ref=item["seller_id"] or None,
                )
            )
        payments: list[PaymentDraft] = []
        for pay_line, pay in self.payments.get(order_id, ()):
            try:
                payments.append(
                    PaymentDraft(
                        sequence=int(pay["payment_sequential"]),
                        method=pay["payment_type"][:40],
                        installments=int(pay["payment_installments"] or 1),
                        amount_minor=_money(pay["payment_value"], "payment_value"),
                    )
                )
            except (Unusable, ValueError) as exc:
                if rejects is not None:
                    rejects.add(self.directory / PAYMENTS, pay_line, f"payment of order {order_id}: {exc}")
        reviews: list[ReviewDraft] = []
        for review_line, review in self.reviews.get(order_id, ()):
            try:
                score = int(review["review_score"])
                if not 1 <= score <= 5:
                    raise Unusable(f"review_score {score} is not between 1 and 5")
                reviews.append(
                    ReviewDraft(
                        external_id=review["review_id"] + suffix,
                        score=score,
                        title=review["review_comment_title"].strip() or None,
                        message=review["review_comment_message"].strip() or None,
                        reviewed_at=_time(review["review_creation_date"], "review_creation_date"),
                        answered_at=_time(review["review_answer_timestamp"], "review_answer_timestamp"),
                        raw=review,
                    )
                )
            except (Unusable, ValueError) as exc:
                if rejects is not None:
                    rejects.add(self.directory / REVIEWS, review_line, f"review of order {order_id}: {exc}")
        destination = _place(customer, "customer")
        cancelled = status in CANCELLED
        known = [t for t in (placed, approved, handed, delivered) if t is not None]
        seller = self.sellers.get(lines[0].seller_ref or "") if lines else None
        shipment = self._shipment(
            order_id + suffix, approved, handed, delivered, estimated, destination, seller, cancelled
        )
        return OrderDraft(
            external_id=order_id + suffix,
            number=f"#{order_id[:8].upper()}{suffix}",
            placed_at=placed,
            currency=CURRENCY,
            lines=tuple(lines),
            customer=CustomerDraft(external_id=customer["customer_unique_id"] + suffix),
            shipping_minor=shipping,
            shipping_address=destination,
            tags=("olist", status),
            cancelled_at=max(known) if cancelled else None,
            cancel_reason=status if cancelled else None,
            payments=tuple(payments),
            shipment=shipment,
            reviews=tuple(reviews),
        )

    @staticmethod
    def _shipment(
        tracking: str,
        approved: datetime | None,
        handed: datetime | None,
        delivered: datetime | None,
        estimated: datetime | None,
        destination: dict[str, str],
        seller: Row | None,
        cancelled: bool,
    ) -> ShipmentDraft | None:
        if cancelled and handed is None and delivered is None:
            return None  # nothing ever left the seller
        # Olist sometimes stamps a stage before the one it follows; the later stage wins, so the journey
        # reads forwards (a parcel delivered at 10:00 was handed over by 10:00 at the latest).
        if handed and delivered and handed > delivered:
            handed = delivered
        if approved and (handed or delivered) and approved > (handed or delivered or approved):
            approved = handed or delivered
        origin = _place(seller, "seller") if seller else {}
        scans: list[ScanDraft] = []
        if approved:
            scans.append(
                ScanDraft(
                    approved,
                    Status.info_received,
                    "order_approved_at",
                    "Payment approved; seller notified",
                    **origin,
                )
            )
        if handed:
            scans.append(
                ScanDraft(
                    handed,
                    Status.in_transit,
                    "order_delivered_carrier_date",
                    "Handed to the carrier",
                    **origin,
                )
            )
        if delivered:
            scans.append(
                ScanDraft(
                    delivered,
                    Status.delivered,
                    "order_delivered_customer_date",
                    "Delivered to the customer",
                    **destination,
                )
            )
        promised: date | None = estimated.date() if estimated else None
        return ShipmentDraft(
            carrier=CARRIER, tracking_number=tracking.upper(), scans=tuple(scans), promised_on=promised
        )


def _grouped(
    rows: Sequence[tuple[int, Row]], known: set[str], path: Path, rejects: Rejects, what: str
) -> dict[str, list[tuple[int, Row]]]:
    grouped: dict[str, list[tuple[int, Row]]] = {}
    for line, row in rows:
        if row["order_id"] not in known:
            rejects.add(path, line, f"{what} for order {row['order_id']}, which is not in {ORDERS}")
            continue
        grouped.setdefault(row["order_id"], []).append((line, row))
    return grouped


def read(directory: Path, rejects: Rejects) -> OlistData:
    """Parse every table of an Olist folder; unusable records go to ``rejects``."""
    directory = directory.resolve()
    orders = _table(directory, ORDERS, rejects)
    order_ids = {row["order_id"] for _, row in orders}
    translations = {
        row["product_category_name"]: row["product_category_name_english"]
        for _, row in _table(directory, CATEGORIES, rejects, required=False)
    }
    categories = [CategoryDraft(pt, en.replace("_", " "), pt) for pt, en in translations.items()]
    products: list[ProductDraft] = []
    titles: dict[str, str] = {}
    for line, row in _table(directory, PRODUCTS, rejects, required=False):
        category = row["product_category_name"] or None
        name = (translations.get(category, category) if category else "uncategorised") or "uncategorised"
        title = f"{name.replace('_', ' ').capitalize()} ({row['product_id'][:8]})"
        try:
            products.append(
                ProductDraft(
                    external_id=row["product_id"],
                    category_ref=category,
                    title=title,
                    weight_g=_int(row["product_weight_g"]),
                    length_cm=_int(row["product_length_cm"]),
                    height_cm=_int(row["product_height_cm"]),
                    width_cm=_int(row["product_width_cm"]),
                    photos=_int(row["product_photos_qty"]),
                    attributes={
                        "name_length": _int(row["product_name_lenght"]),
                        "description_length": _int(row["product_description_lenght"]),
                    },
                )
            )
        except ValueError as exc:
            rejects.add(directory / PRODUCTS, line, f"product {row['product_id']}: {exc}")
            continue
        titles[row["product_id"]] = title
    sellers = {row["seller_id"]: row for _, row in _table(directory, SELLERS, rejects, required=False)}
    items = _table(directory, ITEMS, rejects)
    used_sellers = {row["seller_id"] for _, row in items}
    seller_drafts = [
        SellerDraft(sid, row["seller_city"], row["seller_state"], row["seller_zip_code_prefix"], "BR")
        for sid, row in sellers.items()
        if sid in used_sellers
    ]
    return OlistData(
        directory=directory,
        catalog=Catalog(categories=categories, products=products, sellers=seller_drafts),
        orders=orders,
        items=_grouped(items, order_ids, directory / ITEMS, rejects, "item"),
        payments=_grouped(
            _table(directory, PAYMENTS, rejects), order_ids, directory / PAYMENTS, rejects, "payment"
        ),
        reviews=_grouped(
            _table(directory, REVIEWS, rejects, required=False),
            order_ids,
            directory / REVIEWS,
            rejects,
            "review",
        ),
        customers={row["customer_id"]: row for _, row in _table(directory, CUSTOMERS, rejects)},
        product_titles=titles,
        sellers=sellers,
    )
