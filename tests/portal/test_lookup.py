"""/track/{store_slug}: order number + e-mail or postal code → the tracking page, without leaking existence."""

from typing import Any

from fastapi.testclient import TestClient

from tests.factories.stores import StoreWithKey


def lookup(client: TestClient, number: str, contact: str, ip: str = "", slug: str = "acme") -> Any:
    return client.post(
        f"/track/{slug}",
        content=f"number={number}&contact={contact}".replace("#", "%23").replace("@", "%40").encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )


def test_the_form_renders(client: TestClient, store: StoreWithKey) -> None:
    page = client.get("/track/acme?lang=fr")
    assert page.status_code == 200
    assert "Suivre votre commande" in page.text
    assert 'method="post"' in page.text
    assert "<script" not in page.text


def test_email_or_postal_code_leads_to_the_tracking_page(client: TestClient, tracked: dict[str, Any]) -> None:
    by_email = lookup(client, "#1001", "shopper1@example.com")
    assert by_email.status_code == 303
    assert by_email.headers["location"] == tracked["link"]
    by_postal = lookup(client, "1001", "78704")
    assert by_postal.status_code == 303
    assert by_postal.headers["location"] == tracked["link"]


def test_unknown_order_and_wrong_email_get_the_same_answer(
    client: TestClient, tracked: dict[str, Any]
) -> None:
    wrong = lookup(client, "1001", "someone@example.com")
    unknown = lookup(client, "1999", "someone@example.com")
    assert wrong.status_code == unknown.status_code == 200
    assert wrong.text.replace("1001", "N") == unknown.text.replace("1999", "N")
    assert "could not find an order" in wrong.text


def test_another_stores_lookup_never_finds_the_order(
    client: TestClient, other_store: StoreWithKey, tracked: dict[str, Any]
) -> None:
    assert lookup(client, "1001", "shopper1@example.com", slug="globex").status_code == 200


def test_lookups_are_rate_limited_per_order_number(client: TestClient, tracked: dict[str, Any]) -> None:
    answers = [lookup(client, "1001", f"guess{i}@example.com").status_code for i in range(5)]
    assert answers == [200] * 5
    limited = lookup(client, "1001", "shopper1@example.com")
    assert limited.status_code == 429
    assert "Retry-After" in limited.headers
    # the limit is per number, not a hint: an unknown number is limited the same way
    assert [lookup(client, "7777", "x@example.com").status_code for _ in range(6)][-1] == 429


def test_lookups_are_rate_limited_per_ip(client: TestClient, store: StoreWithKey) -> None:
    answers = [lookup(client, str(2000 + i), "x@example.com").status_code for i in range(11)]
    assert answers[:10] == [200] * 10
    assert answers[10] == 429


def test_an_unknown_store_is_not_found(client: TestClient) -> None:
    assert client.get("/track/nope").status_code == 404
