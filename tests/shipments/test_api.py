"""/api/v1/shipments and their checkpoints through HTTP."""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from doorstep.db import transaction
from doorstep.flows import service as flow_service
from tests.factories.orders import checkpoint, order_body, phone, shipment_body, with_customer
from tests.factories.stores import StoreWithKey

SHIPMENTS = "/api/v1/shipments"
PROBLEM = "application/problem+json"

# One parcel's journey, carrier times with the local offsets the carrier reported.
LABEL = checkpoint("2026-11-21T09:00:00-08:00", "info_received", message="Label created", city="Reno")
PICKUP = checkpoint("2026-11-21T18:30:00-08:00", "in_transit", message="Picked up", city="Reno")
HUB = checkpoint("2026-11-22T07:15:00-05:00", "in_transit", message="Arrived at hub", city="Louisville")
DELIVERED = checkpoint(
    "2026-11-23T14:02:00-05:00", "delivered", "to_door", message="Delivered, front door", city="Brooklyn"
)


@pytest.fixture(autouse=True)
def _the_time_of_these_scans() -> Iterator[None]:
    """Now is the day after these scans (November 2026): a later today would flag the parcels delayed."""
    with time_machine.travel("2026-11-24T12:00:00Z", tick=True):
        yield


def create_order(client: TestClient, store: StoreWithKey, n: int = 1) -> dict[str, Any]:
    response = client.post(
        "/api/v1/orders", json=with_customer(order_body(n), phone=phone(n)), headers=store.headers
    )
    assert response.status_code == 201, response.text
    order: dict[str, Any] = response.json()
    return order


def create_shipment(client: TestClient, store: StoreWithKey, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(SHIPMENTS, json=body, headers=store.headers)
    assert response.status_code == 201, response.text
    shipment: dict[str, Any] = response.json()
    return shipment


def post_checkpoints(
    client: TestClient, store: StoreWithKey, shipment_id: str, *scans: dict[str, Any]
) -> httpx.Response:
    response: httpx.Response = client.post(
        f"{SHIPMENTS}/{shipment_id}/checkpoints", json={"checkpoints": list(scans)}, headers=store.headers
    )
    return response


def shipment_ids(client: TestClient, store: StoreWithKey, **params: str) -> list[str]:
    response = client.get(SHIPMENTS, params=params, headers=store.headers)
    assert response.status_code == 200, response.text
    return [s["id"] for s in response.json()["data"]]


def milestones(factory: sessionmaker[Session], store: StoreWithKey, subject_id: str) -> list[tuple[str, str]]:
    """(name, carrier time in UTC) of each milestone recorded for the subject, in time order."""
    with transaction(factory) as session:
        rows = flow_service.list_for_subject(session, store_id=store.id, subject_id=subject_id)
        return [(m.name, m.occurred_at.strftime("%Y-%m-%dT%H:%M:%SZ")) for m in rows]


def problem_fields(response: httpx.Response) -> list[str]:
    return [e["field"] for e in response.json().get("errors", [])]


# --- create ---------------------------------------------------------------------------------------------


def test_a_shipment_holds_every_line_item_by_default(client: TestClient, store: StoreWithKey) -> None:
    # given an order of 2 tees and 1 cap
    order = create_order(client, store)
    tee, cap = (li["id"] for li in order["line_items"])

    # when a shipment is created without items
    response = client.post(SHIPMENTS, json=shipment_body(order["id"]), headers=store.headers)

    # then it carries the whole order and waits for its first scan
    assert response.status_code == 201, response.text
    shipment = response.json()
    assert shipment["id"].startswith("shp_")
    assert shipment["order_id"] == order["id"]
    assert shipment["carrier"] == "ups"
    assert shipment["service"] == "Ground"
    assert shipment["tracking_number"] == "1Z999AA10123456781"
    assert shipment["direction"] == "outbound"
    assert shipment["status"] == "pending"
    assert shipment["substatus"] is None
    assert shipment["promised_on"] == "2026-11-26"
    assert shipment["items"] == [{"line_item_id": tee, "quantity": 2}, {"line_item_id": cap, "quantity": 1}]
    fetched = client.get(f"{SHIPMENTS}/{shipment['id']}", headers=store.headers)
    assert fetched.status_code == 200
    assert fetched.json()["items"] == shipment["items"]


def test_explicit_items_ship_part_of_the_order(client: TestClient, store: StoreWithKey) -> None:
    order = create_order(client, store)
    tee = order["line_items"][0]["id"]

    shipment = create_shipment(
        client, store, shipment_body(order["id"], items=[{"line_item_id": tee, "quantity": 1}])
    )

    assert shipment["items"] == [{"line_item_id": tee, "quantity": 1}]


def test_carrier_and_tracking_number_are_normalised(client: TestClient, store: StoreWithKey) -> None:
    order = create_order(client, store)

    shipment = create_shipment(
        client, store, shipment_body(order["id"], carrier="UPS", tracking_number="1z 999 aa1 0123456784")
    )

    assert shipment["carrier"] == "ups"
    assert shipment["tracking_number"] == "1Z999AA10123456784"


@pytest.mark.parametrize(
    ("item", "field", "fix"),
    [
        ({"line_item_id": "li_000000000000000000000000", "quantity": 1}, "items.0.line_item_id",
         "use an id from the order's line_items"),
        ({"line_item_id": "TEE", "quantity": 3}, "items.0.quantity", "send at most 2"),
    ],
    ids=["unknown-line-item", "more-than-ordered"],
)  # fmt: skip
def test_bad_items_are_a_422_naming_the_item(
    client: TestClient, store: StoreWithKey, item: dict[str, Any], field: str, fix: str
) -> None:
    # given an order of 2 tees and 1 cap
    order = create_order(client, store)
    if item["line_item_id"] == "TEE":
        item = {**item, "line_item_id": order["line_items"][0]["id"]}

    # when a shipment names an item the order does not have, or more of it than was ordered
    response = client.post(SHIPMENTS, json=shipment_body(order["id"], items=[item]), headers=store.headers)

    # then it is refused, naming the item and how to fix it, and nothing was created
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["errors"] == [
        {"field": field, "message": response.json()["errors"][0]["message"], "fix": fix}
    ]
    assert shipment_ids(client, store) == []


def test_the_same_line_item_twice_is_a_422_naming_the_second(client: TestClient, store: StoreWithKey) -> None:
    order = create_order(client, store)
    tee = order["line_items"][0]["id"]
    items = [{"line_item_id": tee, "quantity": 1}, {"line_item_id": tee, "quantity": 1}]

    response = client.post(SHIPMENTS, json=shipment_body(order["id"], items=items), headers=store.headers)

    assert response.status_code == 422, response.text
    assert response.json()["errors"] == [
        {"field": "items.1.line_item_id", "message": f"{tee} is listed twice",
         "fix": "list each line item once with its total quantity"}
    ]  # fmt: skip
    assert shipment_ids(client, store) == []


def test_a_duplicate_tracking_number_is_a_409_problem(client: TestClient, store: StoreWithKey) -> None:
    # given a UPS parcel 1Z999AA10123456781
    order = create_order(client, store)
    first = create_shipment(client, store, shipment_body(order["id"]))

    # when the same number is posted again, spelled with spaces and in lower case
    again = shipment_body(order["id"], tracking_number="1z999aa1 0123456781")
    response = client.post(SHIPMENTS, json=again, headers=store.headers)

    # then it is a conflict pointing at the existing parcel, and there is still one shipment
    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == "https://doorstep.dev/problems/conflict"
    assert "post checkpoints to that shipment" in response.json()["detail"]
    assert shipment_ids(client, store) == [first["id"]]


def test_the_same_number_with_another_carrier_or_direction_is_another_parcel(
    client: TestClient, store: StoreWithKey
) -> None:
    order = create_order(client, store)
    ups = create_shipment(client, store, shipment_body(order["id"]))

    usps = client.post(SHIPMENTS, json=shipment_body(order["id"], carrier="usps"), headers=store.headers)
    back = client.post(SHIPMENTS, json=shipment_body(order["id"], direction="return"), headers=store.headers)

    assert usps.status_code == 201, usps.text
    assert back.status_code == 201, back.text
    assert back.json()["direction"] == "return"
    assert set(shipment_ids(client, store)) == {ups["id"], usps.json()["id"], back.json()["id"]}


def test_scans_sent_with_the_shipment_set_its_status(client: TestClient, store: StoreWithKey) -> None:
    order = create_order(client, store)

    shipment = create_shipment(client, store, shipment_body(order["id"], checkpoints=[LABEL, PICKUP]))

    assert shipment["status"] == "in_transit"
    assert shipment["shipped_at"] == "2026-11-22T02:30:00Z"


def test_get_an_unknown_shipment_is_a_404_problem(client: TestClient, store: StoreWithKey) -> None:
    response = client.get(f"{SHIPMENTS}/shp_000000000000000000000000", headers=store.headers)

    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM


def test_patch_updates_service_and_dates(client: TestClient, store: StoreWithKey) -> None:
    order = create_order(client, store)
    shipment = create_shipment(client, store, shipment_body(order["id"]))

    response = client.patch(
        f"{SHIPMENTS}/{shipment['id']}",
        json={"service": "Next Day Air", "expected_on": "2026-11-25"},
        headers=store.headers,
    )

    assert response.status_code == 200, response.text
    fetched = client.get(f"{SHIPMENTS}/{shipment['id']}", headers=store.headers).json()
    for updated in (response.json(), fetched):
        assert updated["service"] == "Next Day Air"
        assert updated["expected_on"] == "2026-11-25"
        assert updated["promised_on"] == "2026-11-26"
        assert updated["tracking_number"] == "1Z999AA10123456781"


# --- checkpoints ----------------------------------------------------------------------------------------


def test_posted_checkpoints_derive_status_and_report_milestones(
    client: TestClient, store: StoreWithKey, factory: sessionmaker[Session]
) -> None:
    # given a pending parcel
    order = create_order(client, store)
    shipment = create_shipment(client, store, shipment_body(order["id"]))

    # when the label and pickup scans arrive
    response = post_checkpoints(client, store, shipment["id"], LABEL, PICKUP)

    # then the parcel is in transit since pickup, and the two milestones crossed are reported and recorded
    assert response.status_code == 201, response.text
    applied = response.json()
    assert applied["added"] == 2
    assert applied["duplicates"] == 0
    assert applied["milestones"] == ["shipment.label_created", "shipment.shipped"]
    parcel = applied["shipment"]
    assert parcel["id"] == shipment["id"]
    assert parcel["status"] == "in_transit"
    assert parcel["substatus"] is None
    assert parcel["status_changed_at"] == "2026-11-22T02:30:00Z"
    assert parcel["last_checkpoint_at"] == "2026-11-22T02:30:00Z"
    assert parcel["shipped_at"] == "2026-11-22T02:30:00Z"
    assert parcel["delivered_at"] is None
    assert milestones(factory, store, shipment["id"]) == [
        ("shipment.label_created", "2026-11-21T17:00:00Z"),
        ("shipment.shipped", "2026-11-22T02:30:00Z"),
    ]


def test_reposting_the_same_scans_adds_nothing(
    client: TestClient, store: StoreWithKey, factory: sessionmaker[Session]
) -> None:
    # given a parcel that received three scans
    order = create_order(client, store)
    shipment = create_shipment(client, store, shipment_body(order["id"]))
    first = post_checkpoints(client, store, shipment["id"], LABEL, PICKUP, HUB).json()
    recorded = milestones(factory, store, shipment["id"])

    # when the same three scans are posted again (a carrier re-delivery, no Idempotency-Key)
    response = post_checkpoints(client, store, shipment["id"], LABEL, PICKUP, HUB)

    # then all three are duplicates, nothing changed and no milestone was emitted again
    assert response.status_code == 201, response.text
    again = response.json()
    assert again["added"] == 0
    assert again["duplicates"] == 3
    assert again["milestones"] == []
    assert again["shipment"]["status"] == first["shipment"]["status"] == "in_transit"
    assert again["shipment"]["status_changed_at"] == first["shipment"]["status_changed_at"]
    assert milestones(factory, store, shipment["id"]) == recorded
    listed = client.get(f"{SHIPMENTS}/{shipment['id']}/checkpoints", headers=store.headers).json()
    assert len(listed["data"]) == 3


def test_a_scan_repeated_within_one_post_is_stored_once(client: TestClient, store: StoreWithKey) -> None:
    order = create_order(client, store)
    shipment = create_shipment(client, store, shipment_body(order["id"]))

    applied = post_checkpoints(client, store, shipment["id"], PICKUP, PICKUP).json()

    assert (applied["added"], applied["duplicates"]) == (1, 1)


def test_out_of_order_scans_end_in_the_latest_carrier_state(
    client: TestClient, store: StoreWithKey, factory: sessionmaker[Session]
) -> None:
    # given a parcel whose delivery scan arrives first
    order = create_order(client, store)
    shipment = create_shipment(client, store, shipment_body(order["id"]))
    delivered = post_checkpoints(client, store, shipment["id"], DELIVERED).json()
    assert delivered["shipment"]["status"] == "delivered"
    assert delivered["milestones"] == ["shipment.shipped", "shipment.delivered"]

    # when an earlier in-transit scan arrives afterwards
    late = post_checkpoints(client, store, shipment["id"], HUB).json()

    # then the parcel stays delivered, nothing new is emitted, and "shipped" moves back to the older scan
    assert late["added"] == 1
    assert late["milestones"] == []
    parcel = late["shipment"]
    assert parcel["status"] == "delivered"
    assert parcel["substatus"] == "to_door"
    assert parcel["delivered_at"] == "2026-11-23T19:02:00Z"
    assert parcel["last_checkpoint_at"] == "2026-11-23T19:02:00Z"
    assert parcel["shipped_at"] == "2026-11-22T12:15:00Z"
    assert milestones(factory, store, shipment["id"]) == [
        ("shipment.shipped", "2026-11-22T12:15:00Z"),
        ("shipment.delivered", "2026-11-23T19:02:00Z"),
    ]


def test_checkpoints_are_listed_by_carrier_time_with_their_offset(
    client: TestClient, store: StoreWithKey
) -> None:
    # given scans posted out of order, where local clock order differs from real order:
    # 10:00-08:00 is 18:00Z, 12:00-05:00 is 17:00Z and 21:30+05:30 is 16:00Z
    order = create_order(client, store)
    shipment = create_shipment(client, store, shipment_body(order["id"]))
    west = checkpoint("2026-11-21T10:00:00-08:00", "in_transit", message="Departed", city="Reno")
    east = checkpoint("2026-11-21T12:00:00-05:00", "in_transit", message="Processed", city="Louisville")
    india = checkpoint("2026-11-21T21:30:00+05:30", "info_received", message="Label", city="Mumbai")
    post_checkpoints(client, store, shipment["id"], west)
    post_checkpoints(client, store, shipment["id"], east, india)

    # when they are listed
    response = client.get(f"{SHIPMENTS}/{shipment['id']}/checkpoints", headers=store.headers)

    # then they come oldest first by carrier time, in UTC, each with the offset it was reported in
    assert response.status_code == 200
    rows = response.json()["data"]
    assert [(r["occurred_at"], r["utc_offset"], r["city"]) for r in rows] == [
        ("2026-11-21T16:00:00Z", "+05:30", "Mumbai"),
        ("2026-11-21T17:00:00Z", "-05:00", "Louisville"),
        ("2026-11-21T18:00:00Z", "-08:00", "Reno"),
    ]
    assert [r["status"] for r in rows] == ["info_received", "in_transit", "in_transit"]
    assert [r["message"] for r in rows] == ["Label", "Processed", "Departed"]
    assert all(r["id"].startswith("cp_") and r["source"] == "api" for r in rows)


def test_a_checkpoint_keeps_its_raw_code_and_place(client: TestClient, store: StoreWithKey) -> None:
    order = create_order(client, store)
    shipment = create_shipment(client, store, shipment_body(order["id"]))
    scan = checkpoint(
        "2026-11-21T12:00:00-05:00", "exception", "weather", message="Severe weather", raw_code="WX",
        city="Louisville", region="KY", postal_code="40209", country="us",
    )  # fmt: skip

    applied = post_checkpoints(client, store, shipment["id"], scan).json()
    [row] = client.get(f"{SHIPMENTS}/{shipment['id']}/checkpoints", headers=store.headers).json()["data"]

    assert applied["shipment"]["status"] == "exception"
    assert applied["shipment"]["substatus"] == "weather"
    assert applied["milestones"] == ["shipment.exception"]
    assert row["raw_code"] == "WX"
    assert row["substatus"] == "weather"
    assert (row["city"], row["region"], row["postal_code"], row["country"]) == (
        "Louisville",
        "KY",
        "40209",
        "US",
    )


def test_a_substatus_of_another_status_is_a_422(client: TestClient, store: StoreWithKey) -> None:
    # given a pending parcel
    order = create_order(client, store)
    shipment = create_shipment(client, store, shipment_body(order["id"]))

    # when an in-transit scan claims the "to_door" delivery substatus
    response = post_checkpoints(
        client, store, shipment["id"], checkpoint(PICKUP["occurred_at"], "in_transit", "to_door")
    )

    # then it is refused, naming the checkpoint, and the parcel is untouched
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert "checkpoints.0" in problem_fields(response)
    assert "to_door" in response.json()["detail"]
    assert client.get(f"{SHIPMENTS}/{shipment['id']}", headers=store.headers).json()["status"] == "pending"
    assert client.get(f"{SHIPMENTS}/{shipment['id']}/checkpoints", headers=store.headers).json()["data"] == []


def test_one_bad_checkpoint_gives_one_problem(client: TestClient, store: StoreWithKey) -> None:
    order = create_order(client, store)
    shipment = create_shipment(client, store, shipment_body(order["id"]))

    response = post_checkpoints(
        client, store, shipment["id"], checkpoint(PICKUP["occurred_at"], "in_transit", "to_door")
    )

    assert problem_fields(response) == ["checkpoints.0"]


def test_an_unknown_status_is_a_422_listing_the_allowed_ones(client: TestClient, store: StoreWithKey) -> None:
    order = create_order(client, store)
    shipment = create_shipment(client, store, shipment_body(order["id"]))

    response = post_checkpoints(
        client, store, shipment["id"], checkpoint(PICKUP["occurred_at"], "teleported")
    )

    assert response.status_code == 422
    [problem] = [e for e in response.json()["errors"] if e["field"] == "checkpoints.0.status"]
    assert problem["fix"].startswith("send one of ")
    assert "'in_transit'" in problem["fix"]


def test_checkpoints_for_an_unknown_shipment_are_a_404(client: TestClient, store: StoreWithKey) -> None:
    response = post_checkpoints(client, store, "shp_000000000000000000000000", PICKUP)

    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM


# --- list -----------------------------------------------------------------------------------------------


def test_list_filters_by_status_and_order(client: TestClient, store: StoreWithKey) -> None:
    # given an in-transit parcel for order 1 and a pending parcel for order 2
    first_order = create_order(client, store, 1)
    second_order = create_order(client, store, 2)
    moving = create_shipment(client, store, shipment_body(first_order["id"], 1))
    waiting = create_shipment(client, store, shipment_body(second_order["id"], 2))
    post_checkpoints(client, store, moving["id"], LABEL, PICKUP)

    # then each filter returns exactly its parcels, newest first when unfiltered
    assert shipment_ids(client, store) == [waiting["id"], moving["id"]]
    assert shipment_ids(client, store, status="in_transit") == [moving["id"]]
    assert shipment_ids(client, store, status="pending") == [waiting["id"]]
    assert shipment_ids(client, store, status="delivered") == []
    assert shipment_ids(client, store, order_id=second_order["id"]) == [waiting["id"]]
    assert shipment_ids(client, store, order_id=first_order["id"], status="in_transit") == [moving["id"]]
    assert shipment_ids(client, store, order_id=first_order["id"], status="pending") == []
    assert shipment_ids(client, store, tracking_number=moving["tracking_number"]) == [moving["id"]]


def test_list_with_an_unknown_status_is_a_422(client: TestClient, store: StoreWithKey) -> None:
    response = client.get(SHIPMENTS, params={"status": "lost"}, headers=store.headers)

    assert response.status_code == 422
    assert problem_fields(response) == ["query.status"]
