"""The return's own page (/r/{token}), its label and QR code, the return lookup, keep-it and store credit."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from doorstep.db import transaction
from doorstep.returns import service as return_service
from doorstep.returns.commands import RejectionReason, RejectReturn
from doorstep.returns.models import ReturnRequest
from doorstep.stores import service as store_service
from doorstep.stores.commands import UpdateBranding
from tests.factories.stores import StoreWithKey
from tests.portal.returns_helpers import Returnable, hidden_fields, returnable_order, set_policy, text_of
from tests.portal.test_returns import choose_items, choose_options
from tests.returns.decoding import decode_pdf, decode_png


def complete(client: TestClient, order: Returnable, *, resolution: str, method: str, **items: Any) -> str:
    """Walks the three steps and confirms; returns the status page's path."""
    first = choose_items(client, order, **items)
    assert first.status_code == 303, first.text
    second = choose_options(client, first.headers["location"], resolution=resolution, method=method)
    assert second.status_code == 303, second.text
    action, hidden = hidden_fields(client.get(second.headers["location"]).text)
    confirmed = client.post(action, data=hidden, follow_redirects=False)
    assert confirmed.status_code == 303, confirmed.text
    return str(confirmed.headers["location"]).split("?")[0]


def latest(factory: sessionmaker[Session]) -> ReturnRequest:
    with factory() as session:
        found = session.scalars(select(ReturnRequest).order_by(ReturnRequest.id.desc())).unique().first()
        assert found is not None
        return found


@pytest.fixture
def order(factory: sessionmaker[Session], store: StoreWithKey) -> Returnable:
    set_policy(factory, store.id)
    return returnable_order(factory, store.id)


def test_the_label_and_the_qr_code_decode_to_the_return_id(
    client: TestClient, factory: sessionmaker[Session], order: Returnable
) -> None:
    path = complete(client, order, resolution="refund", method="label")
    created = latest(factory)
    label = client.get(f"{path}/label.pdf")
    assert label.headers["content-disposition"] == f'attachment; filename="return-{created.rma}.pdf"'
    assert decode_pdf(label.content) == {"Code128": created.public_id, "QRCode": created.public_id}
    assert decode_png(client.get(f"{path}/qr.png").content) == {"QRCode": created.public_id}
    svg = client.get(f"{path}/qr.svg")
    assert svg.headers["content-type"] == "image/svg+xml"
    assert svg.headers["x-content-type-options"] == "nosniff"


def test_no_label_without_a_return_address(
    client: TestClient, factory: sessionmaker[Session], store: StoreWithKey, order: Returnable
) -> None:
    set_policy(factory, store.id, return_address=None)
    path = complete(client, order, resolution="refund", method="label")
    page = text_of(client.get(path + "?lang=en").text)
    assert "The store will e-mail you the label." in page
    assert client.get(f"{path}/label.pdf").status_code == 404


def test_a_return_held_for_approval_has_no_label_yet(
    client: TestClient, factory: sessionmaker[Session], store: StoreWithKey, order: Returnable
) -> None:
    set_policy(factory, store.id, approval={"auto_approve": False})
    path = complete(client, order, resolution="refund", method="label")
    page = text_of(client.get(path + "?lang=en").text)
    assert "Return requested" in page
    assert "Download label" not in page
    assert client.get(f"{path}/label.pdf").status_code == 404
    assert client.get(f"{path}/qr.svg").status_code == 404


def test_a_rejected_return_says_why(
    client: TestClient, factory: sessionmaker[Session], order: Returnable
) -> None:
    path = complete(client, order, resolution="store_credit", method="in_store")
    created = latest(factory)
    with transaction(factory) as session:
        return_service.reject_return(
            session, store_id=created.store_id, return_id=created.public_id,
            cmd=RejectReturn(reason=RejectionReason.condition_not_met, message="The tags were removed."),
        )  # fmt: skip
    page = text_of(client.get(path + "?lang=en").text)
    assert "Return not accepted" in page
    assert "The tags were removed." in page


def test_store_credit_shows_the_bonus(client: TestClient, order: Returnable) -> None:
    first = choose_items(client, order)
    second = choose_options(client, first.headers["location"], resolution="store_credit", method="in_store")
    review = text_of(client.get(second.headers["location"]).text)
    assert "Store credit bonus" in review
    assert "Return fee Free" in review or "Return fee" not in review


def test_keep_it_is_offered_only_when_the_policy_says_so(
    client: TestClient, factory: sessionmaker[Session], store: StoreWithKey, order: Returnable
) -> None:
    options = client.get(choose_items(client, order).headers["location"])
    assert "Keep the item" not in text_of(options.text)
    set_policy(factory, store.id, keep_it={"max_item_value_minor": 10_000, "reasons": []})
    path = complete(client, order, resolution="keep", method="label")
    created = latest(factory)
    assert created.is_keep_it
    assert created.method == "none"
    page = text_of(client.get(path + "?lang=en").text)
    assert "Send it back" not in page


def test_the_return_lookup_leads_to_the_portal_without_revealing_orders(
    client: TestClient, order: Returnable, store: StoreWithKey
) -> None:
    page = client.get("/returns/acme?lang=en")
    assert page.status_code == 200
    assert "Start a return" in text_of(page.text)
    found = client.post("/returns/acme", data={"number": "#1001", "contact": "shopper1@example.com"},
                        follow_redirects=False)  # fmt: skip
    assert found.status_code == 303
    assert found.headers["location"].startswith(f"/r/new/{order.token}")
    wrong = client.post("/returns/acme", data={"number": "#1001", "contact": "else@example.com"})
    unknown = client.post("/returns/acme", data={"number": "#9999", "contact": "shopper1@example.com"})
    assert wrong.status_code == unknown.status_code == 200
    assert text_of(wrong.text).replace("else@example.com", "X").replace("#1001", "N") == text_of(
        unknown.text
    ).replace("shopper1@example.com", "X").replace("#9999", "N")


def test_a_stores_domain_shows_only_its_own_returns(
    client: TestClient, factory: sessionmaker[Session], order: Returnable, other_store: StoreWithKey
) -> None:
    path = complete(client, order, resolution="refund", method="label")
    with transaction(factory) as session:
        store_service.update_branding(
            session, store_id=other_store.id, cmd=UpdateBranding(hostname="track.globex.example")
        )
    foreign = {"host": "track.globex.example"}
    assert client.get(path, headers=foreign).status_code == 404
    assert client.get(f"{path}/label.pdf", headers=foreign).status_code == 404
    assert client.get(f"/r/new/{order.token}", headers=foreign).status_code == 404
    assert client.get(path).status_code == 200


def test_spanish_status_page(client: TestClient, order: Returnable) -> None:
    path = complete(client, order, resolution="refund", method="qr_dropoff")
    page = text_of(client.get(path + "?lang=es").text)
    assert "Devolución aprobada" in page
    assert "Muestra este código en un punto de entrega" in page


def test_the_start_page_lists_this_orders_returns(
    client: TestClient, factory: sessionmaker[Session], order: Returnable
) -> None:
    path = complete(client, order, resolution="refund", method="label")
    created = latest(factory)
    page = client.get(f"/r/new/{order.token}?lang=en")
    assert f"Your returns for this order Return {created.rma} · Return approved" in text_of(page.text)
    assert f'href="{path}?lang=en"' in page.text


def _weight(client: TestClient, path: str) -> int:
    page = client.get(path)
    assert page.status_code == 200
    assert "<script" not in page.text
    hrefs = [part.split('"')[0] for part in page.text.split('rel="stylesheet" href="')[1:]]
    return len(page.content) + sum(len(client.get(h).content) for h in hrefs)


def test_every_step_weighs_less_than_30_kb_with_its_css(client: TestClient, order: Returnable) -> None:
    first = choose_items(client, order)
    second = choose_options(client, first.headers["location"], resolution="refund", method="label")
    action, hidden = hidden_fields(client.get(second.headers["location"]).text)
    status = client.post(action, data=hidden, follow_redirects=False).headers["location"]
    pages = [f"/r/new/{order.token}", first.headers["location"], second.headers["location"], status,
             f"/t/{order.token}/problem/1"]  # fmt: skip
    weights = {path.split("?")[0]: _weight(client, path) for path in pages}
    assert max(weights.values()) < 30_000, weights
