"""The merchant API for returns, claims, store credit, the policy and analytics, through HTTP."""

from datetime import timedelta
from typing import Any

import time_machine
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from doorstep.db import transaction
from doorstep.returns import service as return_service
from doorstep.returns.models import StoreCredit
from doorstep.returns.policy import DEFAULT_POLICY
from tests.factories.returns import DELIVERED, make_order
from tests.factories.stores import StoreWithKey

NOW = DELIVERED + timedelta(days=2)
PROBLEM = "application/problem+json"


def body_for(order_id: str, line: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "order_id": order_id,
        "items": [{"line_item_id": line, "quantity": 1, "reason": "too_big"}],
        "resolution": "refund",
        "method": "label",
    }
    return body | overrides


def post(client: TestClient, store: StoreWithKey, path: str, body: Any = None, key: str | None = None) -> Any:
    headers = store.headers | ({"Idempotency-Key": key} if key else {})
    return client.post(f"/api/v1{path}", json=body, headers=headers)


@time_machine.travel(NOW, tick=False)
def test_return_lifecycle_over_http(
    client: TestClient, factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    order = make_order(factory, store.id)

    # eligibility and quote
    eligibility = client.get(
        "/api/v1/returns/eligibility", params={"order_id": order.order_id}, headers=store.headers
    )
    assert eligibility.status_code == 200, eligibility.text
    assert [i["reason"] for i in eligibility.json()["items"]] == [None, "final_sale"]
    quote = post(client, store, "/returns/quote", body_for(order.order_id, order.lines[0]))
    assert quote.status_code == 200, quote.text
    assert (quote.json()["refund_minor"], quote.json()["fee_minor"]) == (6797, 500)

    # create, twice with the same key: one return
    created = post(client, store, "/returns", body_for(order.order_id, order.lines[0]), key="k-1")
    assert created.status_code == 201, created.text
    again = post(client, store, "/returns", body_for(order.order_id, order.lines[0]), key="k-1")
    assert again.headers.get("Idempotent-Replayed") == "true"
    ret = created.json()
    assert (ret["status"], ret["rma"][0], ret["portal_path"][:3]) == ("approved", "R", "/r/")
    rid = ret["id"]

    # label, receive, inspect, resolve
    label = post(client, store, f"/returns/{rid}/label", {"carrier": "usps", "tracking_number": "9400111"})
    assert label.json()["status"] == "label_issued", label.text
    assert post(client, store, f"/returns/{rid}/receive").json()["status"] == "received"
    inspected = post(
        client,
        store,
        f"/returns/{rid}/inspect",
        {"items": [{"line_item_id": order.lines[0], "accepted_quantity": 1}]},
    )
    assert inspected.json()["status"] == "inspected", inspected.text
    resolved = post(client, store, f"/returns/{rid}/resolve")
    assert (resolved.json()["status"], resolved.json()["outcome"]) == ("resolved", "refunded")
    refunds = client.get(f"/api/v1/returns/{rid}/refunds", headers=store.headers).json()
    assert [(r["amount_minor"], r["status"]) for r in refunds] == [(6797, "pending")]

    # list and filter
    listed = client.get(
        "/api/v1/returns", params={"status": "resolved", "reason": "too_big"}, headers=store.headers
    )
    assert [r["id"] for r in listed.json()["data"]] == [rid]
    assert (
        client.get("/api/v1/returns", params={"status": "requested"}, headers=store.headers).json()["data"]
        == []
    )

    # an illegal move is a 409 problem
    late = post(client, store, f"/returns/{rid}/approve")
    assert (late.status_code, late.headers["content-type"]) == (409, PROBLEM)
    assert "it is closed" in late.json()["detail"]


@time_machine.travel(NOW, tick=False)
def test_bad_input_is_a_problem_naming_the_field(
    client: TestClient, factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    order = make_order(factory, store.id)
    too_many = body_for(order.order_id, order.lines[0])
    too_many["items"][0]["quantity"] = 5
    response = post(client, store, "/returns", too_many)
    assert (response.status_code, response.headers["content-type"]) == (422, PROBLEM)
    assert response.json()["errors"][0]["field"] == "items.0.quantity"
    assert response.json()["errors"][0]["fix"] == "send at most 2"

    tampered = body_for(order.order_id, order.lines[0], refund_minor=100_000)
    response = post(client, store, "/returns", tampered)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["refund_minor"]

    wrong_total = post(
        client, store, "/returns", body_for(order.order_id, order.lines[0], expected_total_minor=1)
    )
    assert wrong_total.status_code == 409
    assert client.get("/api/v1/returns", headers=store.headers).json()["data"] == []


@time_machine.travel(NOW, tick=False)
def test_another_store_sees_nothing(
    client: TestClient, factory: sessionmaker[Session], store: StoreWithKey, other_store: StoreWithKey
) -> None:
    order = make_order(factory, store.id)
    rid = post(client, store, "/returns", body_for(order.order_id, order.lines[0])).json()["id"]
    assert client.get(f"/api/v1/returns/{rid}", headers=other_store.headers).status_code == 404
    assert post(client, other_store, f"/returns/{rid}/receive").status_code == 404
    assert post(client, other_store, "/returns", body_for(order.order_id, order.lines[0])).status_code == 404
    assert client.get("/api/v1/returns", headers=other_store.headers).json()["data"] == []
    assert client.get(f"/api/v1/returns/{rid}", headers=store.headers).json()["status"] == "approved"


def test_policy_get_and_put(client: TestClient, store: StoreWithKey) -> None:
    got = client.get("/api/v1/returns/policy", headers=store.headers).json()
    assert (got["revision"], got["is_default"], got["policy"]["window_days"]) == (0, True, 30)
    document = DEFAULT_POLICY.model_dump(mode="json") | {"window_days": 45}
    saved = client.put("/api/v1/returns/policy", json=document, headers=store.headers)
    assert saved.status_code == 200, saved.text
    assert (saved.json()["revision"], saved.json()["policy"]["window_days"]) == (1, 45)
    bad = client.put(
        "/api/v1/returns/policy",
        json=document | {"fees": {"by_method": {"label": -5}}, "methods": ["teleport"]},
        headers=store.headers,
    )
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"fees", "methods.0"}
    assert client.get("/api/v1/returns/policy", headers=store.headers).json()["policy"]["window_days"] == 45


@time_machine.travel(NOW, tick=False)
def test_analytics(client: TestClient, factory: sessionmaker[Session], store: StoreWithKey) -> None:
    first, second = make_order(factory, store.id, 1), make_order(factory, store.id, 2)
    a = post(
        client,
        store,
        "/returns",
        body_for(first.order_id, first.lines[0], resolution="store_credit", method="in_store"),
    ).json()["id"]
    post(client, store, "/returns", body_for(second.order_id, second.lines[0]))
    for step in ("receive", "inspect", "resolve"):
        assert post(client, store, f"/returns/{a}/{step}").status_code == 200
    report = client.get("/api/v1/analytics/returns", headers=store.headers).json()
    assert (report["units_sold"], report["units_returned"], report["return_rate"]) == (6, 2, 0.3333)
    assert report["by_product"][0]["title"] == "Merino Tee"
    assert report["by_product"][0]["rate"] == 0.5
    assert report["by_reason"] == [{"reason": "too_big", "units": 2, "share": 1.0}]
    assert report["resolution_share"]["store_credit"] == 1.0
    assert report["revenue_retained_minor"] == 7297


@time_machine.travel(DELIVERED + timedelta(days=3), tick=False)
def test_claims_and_store_credit_over_http(
    client: TestClient, factory: sessionmaker[Session], store: StoreWithKey, other_store: StoreWithKey
) -> None:
    order = make_order(factory, store.id)
    assert order.shipment_id is not None
    options = client.get(
        "/api/v1/claims/eligibility", params={"shipment_id": order.shipment_id}, headers=store.headers
    )
    assert {o["kind"]: o["allowed"] for o in options.json()} == {
        "lost": False, "damaged": True, "stolen": True, "wrong_item": True,
    }  # fmt: skip
    body = {
        "order_id": order.order_id,
        "shipment_id": order.shipment_id,
        "kind": "stolen",
        "preferred_resolution": "refund",
    }
    filed = post(client, store, "/claims", body, key="claim-1")
    assert filed.status_code == 201, filed.text
    claim = filed.json()
    assert (claim["status"], claim["is_auto_approved"]) == ("filed", False)  # worth more than 50.00
    assert client.get(f"/api/v1/claims/{claim['id']}", headers=other_store.headers).status_code == 404
    decided = post(client, store, f"/claims/{claim['id']}/decide", {"approve": True})
    assert (decided.json()["status"], decided.json()["resolution"]) == ("resolved", "refund")
    assert [
        c["id"]
        for c in client.get("/api/v1/claims", params={"kind": "stolen"}, headers=store.headers).json()["data"]
    ] == [claim["id"]]

    # a store-credit return, then spending part of the code
    credit_body = body_for(order.order_id, order.lines[0], resolution="store_credit", method="in_store")
    rid = post(client, store, "/returns", credit_body).json()["id"]
    for step in ("receive", "inspect", "resolve"):
        assert post(client, store, f"/returns/{rid}/{step}").status_code == 200
    with transaction(factory) as session:
        request = return_service.get_return(session, store_id=store.id, return_id=rid)
        credit_row = session.get(StoreCredit, request.store_credit_id)
        assert credit_row is not None
        code, credit_id = credit_row.code, credit_row.public_id
    shown = client.get(f"/api/v1/store-credits/{credit_id}", headers=store.headers).json()
    assert code not in str(shown)
    assert shown["code_last4"] == code[-4:]
    spent = post(
        client, store, "/store-credits/redeem", {"code": code, "amount_minor": 1000, "reference": "cart-1"}
    )
    assert (spent.json()["balance_minor"], spent.json()["redeemed"]) == (shown["balance_minor"] - 1000, True)
    assert (
        post(
            client, other_store, "/store-credits/redeem", {"code": code, "amount_minor": 1, "reference": "x"}
        ).status_code
        == 404
    )


@time_machine.travel(NOW, tick=False)
def test_quote_refuses_bad_input_as_problems(
    client: TestClient, factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    order = make_order(factory, store.id)
    zero = body_for(order.order_id, order.lines[0])
    zero["items"][0]["quantity"] = 0
    response = post(client, store, "/returns/quote", zero)
    assert (response.status_code, response.headers["content-type"]) == (422, PROBLEM)
    assert response.json()["errors"][0]["field"] == "items.0.quantity"
    priced = body_for(order.order_id, order.lines[0])
    priced["items"][0]["unit_price_minor"] = 1
    assert post(client, store, "/returns/quote", priced).status_code == 422
    final_sale = post(client, store, "/returns/quote", body_for(order.order_id, order.lines[1]))
    assert final_sale.status_code == 422
    assert "final sale" in final_sale.json()["errors"][0]["message"]
