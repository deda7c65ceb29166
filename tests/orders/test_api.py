"""/api/v1/orders through HTTP: create, get, list, update and cancel."""

from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from doorstep.db import transaction
from doorstep.flows import service as flow_service
from tests.factories.orders import order_body, phone, with_customer
from tests.factories.stores import StoreWithKey

ORDERS = "/api/v1/orders"
PROBLEM = "application/problem+json"


def create(client: TestClient, store: StoreWithKey, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(ORDERS, json=body, headers=store.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def all_order_ids(client: TestClient, store: StoreWithKey) -> list[str]:
    response = client.get(ORDERS, params={"limit": 200}, headers=store.headers)
    assert response.status_code == 200, response.text
    return [o["id"] for o in response.json()["data"]]


def milestone_names(factory: sessionmaker[Session], store: StoreWithKey, subject_id: str) -> list[str]:
    with transaction(factory) as session:
        rows = flow_service.list_for_subject(session, store_id=store.id, subject_id=subject_id)
        return sorted(m.name for m in rows)


def problem_fields(response: httpx.Response) -> list[str]:
    return [e["field"] for e in response.json().get("errors", [])]


# --- create ---------------------------------------------------------------------------------------------


def test_create_answers_201_with_computed_totals(client: TestClient, store: StoreWithKey) -> None:
    # given an order of 2 x 68.00 + 1 x 28.00, 6.95 shipping and 12.00 tax
    body = order_body(1)

    # when it is posted
    response = client.post(ORDERS, json=body, headers=store.headers)

    # then it is created with integer minor-unit totals
    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["X-Doorstep-Event"].startswith("evt_")
    order = response.json()
    assert order["id"].startswith("ord_")
    assert order["external_id"] == "ext-1"
    assert order["number"] == "#1001"
    assert order["source"] == "api"
    assert order["currency"] == "USD"
    assert order["subtotal_minor"] == 16400
    assert order["shipping_minor"] == 695
    assert order["tax_minor"] == 1200
    assert order["discount_minor"] == 0
    assert order["total_minor"] == 18295
    assert order["cancelled_at"] is None
    assert order["tags"] == ["vip"]
    assert order["shipping_address"] == {
        "name": "Ana Souza", "line1": "1 Main St", "city": "Austin", "region": "TX",
        "postal_code": "78704", "country": "US",
    }  # fmt: skip


def test_line_and_order_discounts_reduce_the_total(client: TestClient, store: StoreWithKey) -> None:
    # given a 6.00 discount on the first line and a 10.00 order discount
    body = order_body(1, discount_minor=1000)
    body["line_items"][0]["discount_minor"] = 600

    # when it is posted
    order = create(client, store, body)

    # then subtotal = 13600 - 600 + 2800 and total = subtotal - 1000 + 695 + 1200
    assert order["subtotal_minor"] == 15800
    assert order["discount_minor"] == 1000
    assert order["total_minor"] == 16695
    assert order["line_items"][0]["discount_minor"] == 600


def test_an_explicit_total_is_kept(client: TestClient, store: StoreWithKey) -> None:
    order = create(client, store, order_body(1, total_minor=17000))

    assert order["subtotal_minor"] == 16400
    assert order["total_minor"] == 17000


def test_the_customer_email_is_lowercased_and_the_phone_is_e164(
    client: TestClient, store: StoreWithKey
) -> None:
    # given a shopper written as "Shopper1@Example.com" / "+1 415 555 0100" with locale "pt-BR"
    order = create(client, store, order_body(1))

    # then the stored contact points are normalised
    customer = order["customer"]
    assert customer["id"].startswith("cus_")
    assert customer["email"] == "shopper1@example.com"
    assert customer["phone"] == "+14155550100"
    assert customer["locale"] == "pt_BR"
    assert customer["timezone"] == "America/Sao_Paulo"
    assert [(c["channel"], c["granted"], c["source"]) for c in customer["consents"]] == [
        ("email", True, "checkout")
    ]


def test_the_same_shopper_in_another_case_is_the_same_customer(
    client: TestClient, store: StoreWithKey
) -> None:
    # given a first order by Shopper1@Example.com
    first = create(client, store, order_body(1))

    # when a second order arrives for SHOPPER1@EXAMPLE.COM with a new first name
    second = create(
        client, store, with_customer(order_body(2), email="SHOPPER1@EXAMPLE.COM", first_name="Ana B.")
    )

    # then both orders point at one customer, updated with what was sent
    assert second["customer"]["id"] == first["customer"]["id"]
    assert second["customer"]["email"] == "shopper1@example.com"
    assert second["customer"]["first_name"] == "Ana B."
    fetched = client.get(f"{ORDERS}/{first['id']}", headers=store.headers).json()
    assert fetched["customer"]["first_name"] == "Ana B."


def test_line_items_keep_the_order_they_were_sent_in(client: TestClient, store: StoreWithKey) -> None:
    # given lines titled Zebra, Apple, Mango (neither alphabetical nor by price)
    lines = [
        {"title": "Zebra", "quantity": 1, "unit_price_minor": 500},
        {"title": "Apple", "quantity": 3, "unit_price_minor": 9000},
        {"title": "Mango", "quantity": 2, "unit_price_minor": 100},
    ]

    # when the order is created and read back
    order = create(client, store, order_body(1, line_items=lines))
    fetched = client.get(f"{ORDERS}/{order['id']}", headers=store.headers).json()

    # then both answers list them as sent
    assert [li["title"] for li in order["line_items"]] == ["Zebra", "Apple", "Mango"]
    assert [li["title"] for li in fetched["line_items"]] == ["Zebra", "Apple", "Mango"]
    assert [li["id"] for li in fetched["line_items"]] == [li["id"] for li in order["line_items"]]
    assert all(li["id"].startswith("li_") for li in order["line_items"])


def test_a_duplicate_external_id_is_a_409_problem(client: TestClient, store: StoreWithKey) -> None:
    # given an order with external_id ext-1
    first = create(client, store, order_body(1))

    # when another order (new number, no Idempotency-Key) reuses ext-1
    response = client.post(ORDERS, json=order_body(1, number="#9999"), headers=store.headers)

    # then it is refused as a conflict and only the first order exists
    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["type"] == "https://doorstep.dev/problems/conflict"
    assert problem["status"] == 409
    assert "ext-1" in problem["detail"]
    assert "PATCH" in problem["detail"]
    assert all_order_ids(client, store) == [first["id"]]


# --- get ------------------------------------------------------------------------------------------------


def test_get_returns_the_stored_order(client: TestClient, store: StoreWithKey) -> None:
    order = create(client, store, order_body(1))

    response = client.get(f"{ORDERS}/{order['id']}", headers=store.headers)

    assert response.status_code == 200
    fetched = response.json()
    assert fetched["id"] == order["id"]
    assert fetched["number"] == "#1001"
    assert fetched["total_minor"] == 18295
    assert fetched["placed_at"] == "2026-11-20T20:04:05Z"
    assert fetched["customer"]["email"] == "shopper1@example.com"


def test_get_an_unknown_order_is_a_404_problem(client: TestClient, store: StoreWithKey) -> None:
    response = client.get(f"{ORDERS}/ord_000000000000000000000000", headers=store.headers)

    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == "https://doorstep.dev/problems/not-found"


def test_the_create_response_is_what_a_later_get_returns(client: TestClient, store: StoreWithKey) -> None:
    # given an order placed at 15:04:05-05:00
    created = create(client, store, order_body(1))

    # when it is read back
    fetched = client.get(f"{ORDERS}/{created['id']}", headers=store.headers).json()

    # then both answers are identical, times in UTC
    assert created == fetched
    assert created["placed_at"] == "2026-11-20T20:04:05Z"


# --- list -----------------------------------------------------------------------------------------------


def test_cursor_pagination_visits_every_order_once_newest_first(
    client: TestClient, store: StoreWithKey
) -> None:
    # given five orders
    created = [create(client, store, with_customer(order_body(n), phone=phone(n)))["id"] for n in range(1, 6)]

    # when the list is read two at a time, following next_cursor
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        response = client.get(ORDERS, params=params, headers=store.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append([o["id"] for o in page["data"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break

    # then there are pages of 2, 2 and 1, newest first, with nothing missing or repeated
    assert [len(p) for p in pages] == [2, 2, 1]
    seen = [order_id for page_ids in pages for order_id in page_ids]
    assert seen == list(reversed(created))


def test_an_invalid_cursor_is_a_422_naming_the_cursor(client: TestClient, store: StoreWithKey) -> None:
    response = client.get(ORDERS, params={"cursor": "not-a-cursor"}, headers=store.headers)

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert problem_fields(response) == ["cursor"]
    assert response.json()["errors"][0]["fix"] == "pass the next_cursor value of the previous page"


def test_list_filters_by_exact_number(client: TestClient, store: StoreWithKey) -> None:
    # given orders #1001, #1002 and #1003
    ids = [create(client, store, with_customer(order_body(n), phone=phone(n)))["id"] for n in (1, 2, 3)]

    # when the list is filtered by number
    hit = client.get(ORDERS, params={"number": "#1002"}, headers=store.headers).json()
    miss = client.get(ORDERS, params={"number": "#100"}, headers=store.headers).json()

    # then only the exact match comes back
    assert [o["id"] for o in hit["data"]] == [ids[1]]
    assert miss["data"] == []


def test_list_filters_by_customer_email_whatever_its_case(client: TestClient, store: StoreWithKey) -> None:
    # given three shoppers with their own e-mails and phones
    ids = [create(client, store, with_customer(order_body(n), phone=phone(n)))["id"] for n in (1, 2, 3)]

    # when the list is filtered by one e-mail, written in another case
    response = client.get(ORDERS, params={"email": "SHOPPER3@example.com"}, headers=store.headers)

    # then that shopper's order alone comes back
    assert response.status_code == 200
    assert [o["id"] for o in response.json()["data"]] == [ids[2]]
    none = client.get(ORDERS, params={"email": "nobody@example.com"}, headers=store.headers).json()
    assert none["data"] == []


def test_two_shoppers_sharing_a_phone_keep_their_own_emails(client: TestClient, store: StoreWithKey) -> None:
    # given two orders by different e-mails from one household phone (order_body's default)
    first = create(client, store, order_body(1))
    second = create(client, store, order_body(2))

    # when each shopper's orders are looked up by e-mail
    ones = client.get(ORDERS, params={"email": "shopper1@example.com"}, headers=store.headers).json()
    twos = client.get(ORDERS, params={"email": "shopper2@example.com"}, headers=store.headers).json()

    # then they are two customers, each found under their own e-mail
    assert second["customer"]["id"] != first["customer"]["id"]
    assert second["customer"]["email"] == "shopper2@example.com"
    assert [o["id"] for o in ones["data"]] == [first["id"]]
    assert [o["id"] for o in twos["data"]] == [second["id"]]


def test_a_customer_external_id_and_email_of_two_shoppers_is_a_409_problem(
    client: TestClient, store: StoreWithKey
) -> None:
    # given shopper A (external id c-1, a@example.com) and shopper B (b@example.com)
    a = create(
        client, store, with_customer(order_body(1), external_id="c-1", email="a@example.com", phone=phone(1))
    )
    create(client, store, with_customer(order_body(2), email="b@example.com", phone=phone(2)))

    # when an order names A's external id with B's e-mail
    clash = with_customer(order_body(3), external_id="c-1", email="b@example.com", phone=phone(3))
    response = client.post(ORDERS, json=clash, headers=store.headers)

    # then it is a conflict naming the e-mail, no order is created and A keeps its e-mail
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == PROBLEM
    assert [e["field"] for e in response.json()["errors"]] == ["customer.email"]
    assert len(all_order_ids(client, store)) == 2
    assert (
        client.get(f"{ORDERS}/{a['id']}", headers=store.headers).json()["customer"]["email"]
        == "a@example.com"
    )


# --- update ---------------------------------------------------------------------------------------------


def test_patch_updates_the_given_fields_only(client: TestClient, store: StoreWithKey) -> None:
    # given an order
    order = create(client, store, order_body(1))

    # when number, tags, note and address are patched
    patch = {
        "number": "#1001-A",
        "tags": ["gift", "vip"],
        "note": "leave with the neighbour",
        "shipping_address": {"name": "Ana Souza", "line1": "9 Side St", "city": "Dallas", "country": "us"},
    }
    response = client.patch(f"{ORDERS}/{order['id']}", json=patch, headers=store.headers)

    # then the answer and a later read show the change, and the rest is as before
    assert response.status_code == 200, response.text
    fetched = client.get(f"{ORDERS}/{order['id']}", headers=store.headers).json()
    for updated in (response.json(), fetched):
        assert updated["number"] == "#1001-A"
        assert updated["tags"] == ["gift", "vip"]
        assert updated["note"] == "leave with the neighbour"
        assert updated["shipping_address"] == {
            "name": "Ana Souza", "line1": "9 Side St", "city": "Dallas", "country": "US",
        }  # fmt: skip
        assert updated["total_minor"] == 18295
        assert updated["external_id"] == "ext-1"
        assert updated["customer"]["id"] == order["customer"]["id"]
        assert [li["id"] for li in updated["line_items"]] == [li["id"] for li in order["line_items"]]
    assert fetched["updated_at"] > order["updated_at"]


def test_patch_can_change_the_customer(client: TestClient, store: StoreWithKey) -> None:
    order = create(client, store, order_body(1))

    response = client.patch(
        f"{ORDERS}/{order['id']}",
        json={"customer": {"email": "New.Person@Example.com", "phone": phone(42)}},
        headers=store.headers,
    )

    assert response.status_code == 200, response.text
    customer = response.json()["customer"]
    assert customer["id"] != order["customer"]["id"]
    assert customer["email"] == "new.person@example.com"
    assert customer["phone"] == "+14155550142"


def test_patch_refuses_fields_that_cannot_change(client: TestClient, store: StoreWithKey) -> None:
    order = create(client, store, order_body(1))

    response = client.patch(f"{ORDERS}/{order['id']}", json={"total_minor": 1}, headers=store.headers)

    assert response.status_code == 422
    assert problem_fields(response) == ["total_minor"]
    assert client.get(f"{ORDERS}/{order['id']}", headers=store.headers).json()["total_minor"] == 18295


def test_patch_an_unknown_order_is_a_404_problem(client: TestClient, store: StoreWithKey) -> None:
    response = client.patch(
        f"{ORDERS}/ord_000000000000000000000000", json={"note": "x"}, headers=store.headers
    )

    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM


# --- cancel ---------------------------------------------------------------------------------------------


def test_cancel_is_idempotent_and_emits_order_cancelled_once(
    client: TestClient, store: StoreWithKey, factory: sessionmaker[Session]
) -> None:
    # given an order (which emitted order.placed)
    order = create(client, store, order_body(1))
    assert milestone_names(factory, store, order["id"]) == ["order.placed"]

    # when it is cancelled twice (two separate requests, no Idempotency-Key)
    first = client.post(f"{ORDERS}/{order['id']}/cancel", json={"reason": "customer"}, headers=store.headers)
    second = client.post(f"{ORDERS}/{order['id']}/cancel", json={"reason": "again"}, headers=store.headers)

    # then both succeed, the first cancellation stands, and order.cancelled was recorded once
    assert first.status_code == 200, first.text
    assert second.status_code == 200, second.text
    assert first.json()["cancelled_at"] is not None
    assert second.json()["cancelled_at"] == first.json()["cancelled_at"]
    assert second.json()["cancel_reason"] == "customer"
    assert "Idempotent-Replayed" not in second.headers
    assert milestone_names(factory, store, order["id"]) == ["order.cancelled", "order.placed"]
    fetched = client.get(f"{ORDERS}/{order['id']}", headers=store.headers).json()
    assert fetched["cancelled_at"] == first.json()["cancelled_at"]
    assert fetched["cancel_reason"] == "customer"


def test_cancel_without_a_body_and_with_an_explicit_time(client: TestClient, store: StoreWithKey) -> None:
    plain = create(client, store, with_customer(order_body(1), phone=phone(1)))
    dated = create(client, store, with_customer(order_body(2), phone=phone(2)))

    no_body = client.post(f"{ORDERS}/{plain['id']}/cancel", headers=store.headers)
    with_time = client.post(
        f"{ORDERS}/{dated['id']}/cancel", json={"cancelled_at": "2026-11-21T10:00:00Z"}, headers=store.headers
    )

    assert no_body.status_code == 200, no_body.text
    assert no_body.json()["cancelled_at"] is not None
    assert no_body.json()["cancel_reason"] is None
    assert with_time.status_code == 200, with_time.text
    fetched = client.get(f"{ORDERS}/{dated['id']}", headers=store.headers).json()
    assert fetched["cancelled_at"] == "2026-11-21T10:00:00Z"


def test_cancel_an_unknown_order_is_a_404_problem(client: TestClient, store: StoreWithKey) -> None:
    response = client.post(f"{ORDERS}/ord_000000000000000000000000/cancel", json={}, headers=store.headers)

    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
