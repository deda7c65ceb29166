"""Refunds reach the platform: a local server answering as Shopify's Admin REST refund API documents it,
and a Standard Webhooks receiver for other platforms. Plus the money invariant under hypothesis."""

import itertools
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks.webhooks import Webhook

from doorstep.core.errors import Invalid
from doorstep.db import transaction
from doorstep.flows import service as flow_service
from doorstep.jobs import refunds as refund_sender
from doorstep.orders import service as order_service
from doorstep.returns import refunds
from doorstep.returns import service as return_service
from doorstep.returns.commands import CreateReturn, InspectReturn, ReceiveReturn, ResolveReturn
from doorstep.returns.policy import (
    DEFAULT_POLICY,
    Method,
    OrderMoney,
    PricedLine,
    ProposedItem,
    Reason,
    Resolution,
    quote,
)
from doorstep.stores import service as store_service
from tests.conftest import TEST_SECRET
from tests.factories.returns import DELIVERED, make_order
from tests.factories.stores import StoreWithKey

NOW = DELIVERED + timedelta(days=2)
TOKEN = "shpat_test_token_0123456789"
SHOPIFY_ORDER = "450789469"
# Two lines as Shopify numbers them: 2 x 68.00 tee, 1 x 28.00 cap (not final sale here).
LINES = [
    {"external_id": "466157049", "title": "Merino Tee", "quantity": 2, "unit_price_minor": 6800},
    {"external_id": "518995019", "title": "Cap", "quantity": 1, "unit_price_minor": 2800},
]


class Recorder:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.fail_with: int | None = None


def _serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def shopify_server() -> Iterator[tuple[str, Recorder]]:
    """Answers like Shopify's refund endpoints: calculate suggests transactions, create returns the refund."""
    recorder = Recorder()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output quiet
            return

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            recorder.requests.append((self.command, self.path, dict(self.headers), body))
            if self.headers.get("X-Shopify-Access-Token") != TOKEN:
                self._answer(
                    401,
                    {
                        "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"
                    },
                )
                return
            if recorder.fail_with is not None:
                self._answer(recorder.fail_with, {"errors": "Exceeded 2 calls per second for api client."})
                return
            prefix = f"/admin/api/2026-04/orders/{SHOPIFY_ORDER}/refunds"
            refund = json.loads(body)["refund"]
            if self.path == f"{prefix}/calculate.json":
                lines = [
                    line
                    | {"location_id": 24826418, "price": "68.00", "subtotal": "68.00", "total_tax": "4.97"}
                    for line in refund["refund_line_items"]
                ]
                transactions = [{
                    "order_id": int(SHOPIFY_ORDER), "kind": "suggested_refund", "gateway": "bogus",
                    "parent_id": 801038806, "amount": "176.95", "currency": refund["currency"],
                    "maximum_refundable": "176.95",
                }]  # fmt: skip
                self._answer(200, {"refund": {"shipping": {"amount": "0.00"}, "refund_line_items": lines,
                                              "transactions": transactions, "currency": refund["currency"]}})  # fmt: skip
            elif self.path == f"{prefix}.json":
                missing = [
                    t for t in refund["transactions"] if t.get("kind") != "refund" or "parent_id" not in t
                ]
                if missing or not refund["transactions"]:
                    self._answer(422, {"errors": {"transactions": ["are invalid"]}})
                    return
                self._answer(201, {"refund": {"id": 509562969, "order_id": int(SHOPIFY_ORDER),
                                              "processed_at": "2026-11-25T15:04:05-05:00",
                                              "transactions": [t | {"id": 179259969, "status": "success"}
                                                               for t in refund["transactions"]]}})  # fmt: skip
            else:
                self._answer(404, {"errors": "Not Found"})

    for url in _serve(Handler):
        yield url, recorder


def connect(factory: sessionmaker[Session], store_id: int, provider: str, config: dict[str, Any]) -> None:
    with transaction(factory) as session:
        store_service.set_connection(
            session, store_id=store_id, provider=provider, config=config, secret=TEST_SECRET
        )


def resolved_refund_return(factory: sessionmaker[Session], store_id: int, n: int = 1) -> tuple[str, str]:
    order = make_order(factory, store_id, n, external_id=SHOPIFY_ORDER, line_items=LINES)
    body = {"items": [{"line_item_id": order.lines[0], "quantity": 1, "reason": "too_big"}],
            "resolution": "refund", "method": "in_store"}  # fmt: skip
    with transaction(factory) as session:
        rid = return_service.create_return(
            session,
            store_id=store_id,
            order_id=order.order_id,
            cmd=CreateReturn.model_validate(body),
            now=NOW,
        ).return_request.public_id
        return_service.receive_return(session, store_id=store_id, return_id=rid, cmd=ReceiveReturn())
        return_service.inspect_return(session, store_id=store_id, return_id=rid, cmd=InspectReturn())
        return_service.resolve_return(session, store_id=store_id, return_id=rid, cmd=ResolveReturn())
    return order.order_id, rid


def test_shopify_refund_calculates_then_creates(
    factory: sessionmaker[Session], store: StoreWithKey, shopify_server: tuple[str, Recorder]
) -> None:
    url, recorder = shopify_server
    connect(
        factory, store.id, "shopify", {"webhook_secret": "s", "access_token": TOKEN, "admin_base_url": url}
    )
    order_id, return_id = resolved_refund_return(factory, store.id)

    with httpx.Client() as client:
        report = refund_sender.send_due(factory, secret=TEST_SECRET, client=client)

    assert (report.sent, report.failed) == (1, 0)
    (_, calc_path, calc_headers, calc_body), (_, create_path, _, create_body) = recorder.requests
    assert calc_path == f"/admin/api/2026-04/orders/{SHOPIFY_ORDER}/refunds/calculate.json"
    assert calc_headers["X-Shopify-Access-Token"] == TOKEN
    assert json.loads(calc_body)["refund"]["refund_line_items"] == [
        {"line_item_id": 466157049, "quantity": 1, "restock_type": "return"}
    ]
    assert create_path == f"/admin/api/2026-04/orders/{SHOPIFY_ORDER}/refunds.json"
    created = json.loads(create_body)["refund"]
    # in store: no fee; the tee's value is 68.00 plus its share of 12.00 tax over a 164.00 subtotal
    value = 6800 + 1200 * 6800 // 16400
    assert created["transactions"] == [
        {"parent_id": 801038806, "amount": f"{value / 100:.2f}", "kind": "refund", "gateway": "bogus"}
    ]
    assert created["refund_line_items"][0]["location_id"] == 24826418
    with transaction(factory) as session:
        assert order_service.get_order(session, store_id=store.id, order_id=order_id).refunded_minor == value
        row = return_service.get_return(session, store_id=store.id, return_id=return_id)
        (sent,) = refunds.list_for_return(session, request=row)
        assert (sent.status, sent.channel, sent.external_id) == ("succeeded", "shopify", "509562969")
        (refund_row,) = order_service.list_refunds(session, store_id=store.id, order_id=order_id)
        names = [
            m.name
            for m in flow_service.list_for_subject(
                session, store_id=store.id, subject_id=refund_row.public_id
            )
        ]
    assert names == ["refund.issued"]
    with httpx.Client() as client:  # nothing is due any more
        assert refund_sender.send_due(factory, secret=TEST_SECRET, client=client).sent == 0
    assert len(recorder.requests) == 2


def test_shopify_rate_limit_is_retried_later_and_a_bad_token_fails_at_once(
    factory: sessionmaker[Session], store: StoreWithKey, shopify_server: tuple[str, Recorder]
) -> None:
    url, recorder = shopify_server
    connect(
        factory, store.id, "shopify", {"webhook_secret": "s", "access_token": TOKEN, "admin_base_url": url}
    )
    order_id, return_id = resolved_refund_return(factory, store.id)
    recorder.fail_with = 429
    with httpx.Client() as client:
        assert refund_sender.send_due(factory, secret=TEST_SECRET, client=client).failed == 1
    with transaction(factory) as session:
        (row,) = refunds.list_for_return(
            session, request=return_service.get_return(session, store_id=store.id, return_id=return_id)
        )
        assert (row.status, row.attempts) == ("pending", 1)
        assert "HTTP 429" in (row.last_error or "")
        assert order_service.get_order(session, store_id=store.id, order_id=order_id).refunded_minor == 0

    connect(
        factory, store.id, "shopify", {"webhook_secret": "s", "access_token": "wrong", "admin_base_url": url}
    )
    recorder.fail_with = None
    with transaction(factory) as session:
        row = session.merge(row)
        row.next_attempt_at = NOW - timedelta(days=10)  # due now
    with httpx.Client() as client:
        refund_sender.send_due(factory, secret=TEST_SECRET, client=client)
    with transaction(factory) as session:
        (row,) = refunds.list_for_return(
            session, request=return_service.get_return(session, store_id=store.id, return_id=return_id)
        )
        assert row.status == "failed"
        assert "HTTP 401" in (row.last_error or "")


def test_without_a_channel_the_refund_fails_with_what_to_connect(
    factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    _, return_id = resolved_refund_return(factory, store.id)
    with httpx.Client() as client:
        refund_sender.send_due(factory, secret=TEST_SECRET, client=client)
    with transaction(factory) as session:
        (row,) = refunds.list_for_return(
            session, request=return_service.get_return(session, store_id=store.id, return_id=return_id)
        )
    assert (row.status, row.last_error) == ("failed", refund_sender.NO_CHANNEL)


def test_signed_refund_webhook_for_other_platforms(
    factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    received: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            received.append((dict(self.headers), body))
            Webhook(secret).verify(body, {k.lower(): v for k, v in self.headers.items()})  # raises if forged
            data = json.dumps({"id": "ext-refund-77"}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    for url in _serve(Handler):
        connect(factory, store.id, "refund_webhook", {"url": f"{url}/refunds", "secret": secret})
        order_id, _ = resolved_refund_return(factory, store.id)
        with httpx.Client() as client:
            assert refund_sender.send_due(factory, secret=TEST_SECRET, client=client).sent == 1
    ((headers, body),) = received
    payload = json.loads(body)
    assert payload["type"] == "refund.requested"
    assert payload["data"]["order_external_id"] == SHOPIFY_ORDER
    assert headers["webhook-id"].startswith("rrf_")
    with transaction(factory) as session:
        (refund_row,) = order_service.list_refunds(session, store_id=store.id, order_id=order_id)
    assert (refund_row.external_id, refund_row.amount_minor) == (
        "ext-refund-77",
        payload["data"]["amount_minor"],
    )


# --- the money invariant ----------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    prices=st.lists(
        st.tuples(st.integers(0, 50_000), st.integers(1, 5), st.integers(0, 100)), min_size=1, max_size=4
    ),
    order_discount=st.integers(0, 5_000),
    shipping=st.integers(0, 2_000),
    tax=st.integers(0, 5_000),
    picks=st.lists(
        st.tuples(st.integers(0, 3), st.integers(1, 5), st.sampled_from(list(Reason))), min_size=1, max_size=8
    ),
)
def test_quotes_of_all_units_never_pass_what_was_paid(
    prices: list[tuple[int, int, int]], order_discount: int, shipping: int, tax: int,
    picks: list[tuple[int, int, Reason]],
) -> None:  # fmt: skip
    """However an order is split into returns, their values add up to at most the order's total."""
    lines = [
        PricedLine(f"li_{i}", "x", qty, price, min(price * qty, disc * qty))
        for i, (price, qty, disc) in enumerate(prices)
    ]
    subtotal = sum(li.unit_price_minor * li.quantity - li.discount_minor for li in lines)
    discount = min(order_discount, subtotal)
    total = subtotal - discount + shipping + tax
    left = {li.line_item_id: li.quantity for li in lines}
    refunded = 0
    for index, quantity, reason in picks:
        line = lines[index % len(lines)]
        take = min(quantity, left[line.line_item_id])
        if take == 0:
            continue
        left[line.line_item_id] -= take
        money = OrderMoney("USD", subtotal, discount, shipping, tax, total, refunded, 0)
        q = quote(
            DEFAULT_POLICY,
            money,
            [ProposedItem(line, take, reason)],
            resolution=Resolution.refund,
            method=Method.in_store,
        )
        assert q.refund_minor >= 0
        refunded += q.refund_minor
        assert refunded <= total


_ORDER_NUMBERS = itertools.count(100)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    returns=st.lists(st.tuples(st.integers(1, 3), st.sampled_from(["refund", "refund", "store_credit"]), st.booleans()),
                     min_size=1, max_size=5),
    total_override=st.one_of(st.none(), st.integers(5_000, 20_000)),
)  # fmt: skip
def test_refunds_never_exceed_what_was_paid_across_repeated_returns(
    factory: sessionmaker[Session],
    store: StoreWithKey,
    returns: list[tuple[int, str, bool]],
    total_override: int | None,
) -> None:
    """Partial and repeated returns of one order, each resolved and confirmed by the platform: the order's
    refunds never pass its total, and units never go back twice."""
    lines = [
        {"external_id": "a", "title": "Tee", "quantity": 3, "unit_price_minor": 6800, "discount_minor": 700}
    ]
    extra = {} if total_override is None else {"total_minor": total_override}
    order = make_order(factory, store.id, next(_ORDER_NUMBERS), line_items=lines,
                       delivered_at=None, discount_minor=500, **extra)  # fmt: skip
    for index, (quantity, resolution, inspect_half) in enumerate(returns):
        body = {"items": [{"line_item_id": order.lines[0], "quantity": quantity, "reason": "too_big"}],
                "resolution": resolution, "method": "in_store", "idempotency_key": f"{order.order_id}-{index}"}  # fmt: skip
        try:
            with transaction(factory) as session:
                rid = return_service.create_return(
                    session,
                    store_id=store.id,
                    order_id=order.order_id,
                    cmd=CreateReturn.model_validate(body),
                    now=NOW,
                ).return_request.public_id
        except Invalid as exc:  # more units than are left: refused, nothing changed
            refused = str(exc)
            assert any(words in refused for words in ("left to return", "already in a return"))
            continue
        with transaction(factory) as session:
            return_service.receive_return(session, store_id=store.id, return_id=rid, cmd=ReceiveReturn())
            inspected = (
                {"items": [{"line_item_id": order.lines[0], "accepted_quantity": quantity // 2}]}
                if inspect_half
                else {}
            )
            return_service.inspect_return(
                session, store_id=store.id, return_id=rid, cmd=InspectReturn.model_validate(inspected)
            )
            return_service.resolve_return(session, store_id=store.id, return_id=rid, cmd=ResolveReturn())
        with transaction(factory) as session:
            for due in refunds.due_refunds(session, store_id=store.id, now=NOW + timedelta(days=1)):
                refunds.record_result(
                    session, store_id=store.id, refund_id=due.refund_id, channel="test", ok=True
                )
    with transaction(factory) as session:
        paid = order_service.get_order(session, store_id=store.id, order_id=order.order_id)
        recorded = order_service.list_refunds(session, store_id=store.id, order_id=order.order_id)
        assert paid.refunded_minor == sum(r.amount_minor for r in recorded)
        assert paid.refunded_minor <= paid.total_minor
        assert (
            sum(return_service.returned_by_line(session, store_id=store.id, order_id=order.order_id).values())
            <= 3
        )
