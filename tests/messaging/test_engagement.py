"""Opens, clicks and unsubscribes through the signed links a sent message carries; analytics counts them."""

import re
from html import unescape

import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from doorstep.config import Settings
from doorstep.customers.models import Consent
from doorstep.db import transaction
from doorstep.messaging import links
from doorstep.outbox.models import OutboxMessage
from tests.factories.orders import checkpoint, order_body, shipment_body
from tests.factories.stores import StoreWithKey
from tests.messaging.conftest import messages, run_worker

PICKUP = checkpoint("2026-11-23T09:30:00-05:00", "in_transit", message="Picked up", city="Reno")


def _sent_email(
    client: TestClient, factory: sessionmaker[Session], settings: Settings, store: StoreWithKey
) -> str:
    """Ship one parcel; return the HTML of the 'shipped' e-mail the worker put in the outbox."""
    order = client.post("/api/v1/orders", json=order_body(7, tags=[]), headers=store.headers).json()
    shipment = client.post("/api/v1/shipments", json=shipment_body(order["id"]), headers=store.headers).json()
    added = client.post(
        f"/api/v1/shipments/{shipment['id']}/checkpoints",
        json={"checkpoints": [PICKUP]},
        headers=store.headers,
    )
    assert added.status_code in (200, 201), added.text
    run_worker(factory, settings)
    with transaction(factory) as session:
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.store_id == store.id))
        [row] = [r for r in rows if r.details.get("milestone") == "shipment.shipped"]
        assert row.html is not None
        return row.html


def test_opens_clicks_and_one_click_unsubscribe_are_recorded(
    client: TestClient, factory: sessionmaker[Session], settings: Settings, store: StoreWithKey,
    clock: time_machine.Traveller,
) -> None:  # fmt: skip
    html = _sent_email(client, factory, settings, store)
    [message] = [m for m in messages(factory, store.id) if m.milestone == "shipment.shipped"]
    click_url = unescape(re.search(r'href="(https://track\.example/e/c/[^"]+)"', html).group(1))  # type: ignore[union-attr]

    # The pixel counts an open; a forged signature counts nothing and looks the same
    pixel = links.open_pixel("", settings.security.secret_key.get_secret_value(), message.public_id)
    assert client.get(pixel).headers["content-type"] == "image/gif"
    assert client.get(pixel.replace(".gif", "x.gif")).status_code == 200

    # The click redirects to the shopper's tracking page
    response = client.get(click_url.removeprefix("https://track.example"), follow_redirects=False)
    assert response.status_code == 302
    assert re.fullmatch(r"https://track\.example/t/[\w-]+", response.headers["location"])
    # A tampered target is refused (no open redirect)
    evil = re.sub(r"u=[^&]+", "u=https%3A%2F%2Fevil.example", click_url.removeprefix("https://track.example"))
    assert client.get(evil, follow_redirects=False).status_code == 404

    counts = client.get("/api/v1/analytics/notifications", headers=store.headers).json()["data"]
    shipped = next(c for c in counts if c["milestone"] == "shipment.shipped")
    assert (shipped["sent"], shipped["opened"], shipped["clicked"]) == (1, 1, 1)

    # RFC 8058 one-click from the mail client withdraws e-mail consent
    unsubscribe = links.unsubscribe("", settings.security.secret_key.get_secret_value(), message.public_id)
    answer = client.post(
        unsubscribe, content="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    assert answer.status_code == 200
    with transaction(factory) as session:
        consent = session.scalars(
            select(Consent).where(Consent.store_id == store.id, Consent.channel == "email")
        ).one()
        assert (consent.is_granted, consent.source) == (False, "list-unsubscribe one-click")


def test_the_preferences_page_changes_frequency_and_refuses_forged_links(
    client: TestClient, factory: sessionmaker[Session], settings: Settings, store: StoreWithKey,
    clock: time_machine.Traveller,
) -> None:  # fmt: skip
    _sent_email(client, factory, settings, store)
    [message] = [m for m in messages(factory, store.id) if m.milestone == "shipment.shipped"]
    page_url = links.unsubscribe("", settings.security.secret_key.get_secret_value(), message.public_id)
    page = client.get(page_url)
    assert page.status_code == 200
    assert "shopper7@example.com" in page.text
    assert "Deine Benachrichtigungseinstellungen" in client.get(page_url + "?lang=de").text
    saved = client.post(page_url, data={"frequency": "none"})
    assert saved.status_code == 200
    assert 'value="none" checked' in saved.text
    assert client.get(page_url[:-3] + "AAA").status_code == 404
    assert client.post(page_url[:-3] + "AAA", data={"action": "unsubscribe"}).status_code == 404


def test_the_preferences_page_is_rate_limited_per_client(client: TestClient, store: StoreWithKey) -> None:
    forged = "/u/msg_000000000000000000000000/AAAAAAAAAAAAAAAAAAAAAA"
    answers = [client.get(forged).status_code for _ in range(31)]
    assert answers[:30] == [404] * 30
    assert answers[30] == 429
