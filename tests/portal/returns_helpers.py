"""Shared by the returns-portal tests: a store with a return policy, returnable orders, and form reading."""

import re
from dataclasses import dataclass
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from doorstep.core import clock
from doorstep.db import transaction
from doorstep.orders import service as order_service
from doorstep.orders.commands import CreateOrder
from doorstep.returns import service as return_service
from doorstep.returns.policy import DEFAULT_POLICY
from doorstep.shipments import service as shipment_service
from doorstep.shipments.commands import AddCheckpoints, CheckpointInput, CreateShipment
from doorstep.shipments.status import Status
from tests.factories.orders import order_body

WAREHOUSE = {"name": "Acme Returns", "line1": "200 Warehouse Way", "city": "Reno", "region": "NV",
             "postal_code": "89502", "country": "US"}  # fmt: skip


def set_policy(factory: sessionmaker[Session], store_id: int, **changes: Any) -> None:
    document = DEFAULT_POLICY.model_dump(mode="json")
    document.update({"return_address": WAREHOUSE, "return_carrier": "UPS", **changes})
    with transaction(factory) as session:
        return_service.set_policy(session, store_id=store_id, document=document)


@dataclass(frozen=True)
class Returnable:
    order_id: str
    lines: list[str]
    token: str
    shipment_id: str | None


def returnable_order(
    factory: sessionmaker[Session], store_id: int, n: int = 1, *, days_ago: float = 1, **overrides: Any
) -> Returnable:
    """An order placed a week ago and delivered ``days_ago`` (2 x 68.00 tee, 1 x 28.00 final-sale cap)."""
    now = clock.now()
    delivered = now - timedelta(days=days_ago)
    body = order_body(n, placed_at=(now - timedelta(days=7)).isoformat(), **overrides)
    with transaction(factory) as session:
        order = order_service.create_order(
            session, store_id=store_id, cmd=CreateOrder.model_validate(body)
        ).order
        parcel = shipment_service.create_shipment(
            session, store_id=store_id,
            cmd=CreateShipment(order_id=order.public_id, carrier="ups", tracking_number=f"1Z999AA10{n:09d}"),
        ).shipment  # fmt: skip
        scans = (
            CheckpointInput(occurred_at=delivered - timedelta(days=2), status=Status.in_transit),
            CheckpointInput(occurred_at=delivered, status=Status.delivered),
        )
        shipment_service.add_checkpoints(
            session, store_id=store_id, shipment_id=parcel.public_id, cmd=AddCheckpoints(checkpoints=scans)
        )
        return Returnable(
            order.public_id, [li.public_id for li in order.line_items], order.status_token, parcel.public_id
        )


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action"), "fields": {}})
        elif tag == "input" and self.forms and a.get("type") == "hidden" and a.get("name"):
            self.forms[-1]["fields"][a["name"]] = a.get("value") or ""


def hidden_fields(html: str, index: int = -1) -> tuple[str, dict[str, str]]:
    """(action, hidden fields) of a form on the page (the last one unless told)."""
    parser = _Forms()
    parser.feed(html)
    form = parser.forms[index]
    return str(form["action"]).replace("&amp;", "&"), dict(form["fields"])


def text_of(html: str) -> str:
    """The page's visible text, whitespace collapsed (enough for assertions on wording)."""
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return (
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)).replace("&amp;", "&").replace("&#39;", "'").strip()
    )
