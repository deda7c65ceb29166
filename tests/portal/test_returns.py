"""The returns portal over HTTP: the three steps, the review's quote, confirming, and the status page."""

import io
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from doorstep.db import read_transaction
from doorstep.returns.models import EvidencePhoto, ReturnRequest
from tests.factories.stores import StoreWithKey
from tests.portal.returns_helpers import Returnable, hidden_fields, returnable_order, set_policy, text_of


def png(color: str = "red", size: tuple[int, int] = (40, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def order(factory: sessionmaker[Session], store: StoreWithKey) -> Returnable:
    set_policy(factory, store.id)
    return returnable_order(factory, store.id)


def choose_items(client: TestClient, order: Returnable, **extra: Any) -> Any:
    page = client.get(f"/r/new/{order.token}?lang=en")
    assert page.status_code == 200, page.text
    action, hidden = hidden_fields(page.text)
    tee = order.lines[0]
    data = {
        **hidden,
        "item": [tee],
        f"qty-{tee}": "1",
        f"reason-{tee}": "too_small",
        f"comment-{tee}": "Runs small",
    }
    data.update(extra.pop("data", {}))
    return client.post(action, data=data, files=extra.pop("files", None), follow_redirects=False)


def choose_options(client: TestClient, location: str, **fields: str) -> Any:
    page = client.get(location)
    assert page.status_code == 200, page.text
    action, hidden = hidden_fields(page.text)
    return client.post(action, data={**hidden, **fields}, follow_redirects=False)


def returns_of(factory: sessionmaker[Session]) -> list[ReturnRequest]:
    """Every return, loaded with its items and detached (closing keeps the loaded values)."""
    with factory() as session:
        return list(session.scalars(select(ReturnRequest).order_by(ReturnRequest.id)).unique())


def test_refund_path_from_items_to_status_page(
    client: TestClient, factory: sessionmaker[Session], order: Returnable, store: StoreWithKey
) -> None:
    # Given a delivered order, when the shopper picks one tee, refund and a prepaid label
    first = choose_items(client, order)
    assert first.status_code == 303, first.text
    assert "/options?" in first.headers["location"]
    second = choose_options(client, first.headers["location"], resolution="refund", method="label")
    assert second.status_code == 303, second.text
    review = client.get(second.headers["location"])
    assert review.status_code == 200, review.text
    text = text_of(review.text)
    # Then the review shows the server's breakdown before anything is stored
    assert "Merino Tee \u00d7 1" in text
    assert "Too small" in text
    assert "Return fee" in text
    assert "You get back" in text
    assert returns_of(factory) == []
    action, hidden = hidden_fields(review.text)
    confirmed = client.post(action, data=hidden, follow_redirects=False)
    assert confirmed.status_code == 303, confirmed.text
    status = client.get(confirmed.headers["location"])
    assert status.status_code == 200
    [created] = returns_of(factory)
    assert created.resolution == "refund"
    assert created.method == "label"
    assert created.items[0].quantity == 1
    assert created.items[0].comment == "Runs small"
    assert hidden["expected_total"] == str(created.quote["total_minor"])
    page = text_of(status.text)
    assert created.rma in page
    assert "Download label (PDF)" in page
    label = client.get(confirmed.headers["location"].split("?")[0] + "/label.pdf")
    assert label.status_code == 200
    assert label.content.startswith(b"%PDF")
    assert label.headers["content-type"] == "application/pdf"


def test_confirming_twice_makes_one_return(
    client: TestClient, factory: sessionmaker[Session], order: Returnable
) -> None:
    second = choose_options(
        client, choose_items(client, order).headers["location"], resolution="refund", method="label"
    )
    review = client.get(second.headers["location"])
    action, hidden = hidden_fields(review.text)
    one = client.post(action, data=hidden, follow_redirects=False)
    two = client.post(action, data=hidden, follow_redirects=False)
    assert one.status_code == two.status_code == 303
    assert one.headers["location"] == two.headers["location"]
    assert len(returns_of(factory)) == 1


def test_a_tampered_total_is_refused_and_nothing_is_stored(
    client: TestClient, factory: sessionmaker[Session], order: Returnable
) -> None:
    second = choose_options(
        client, choose_items(client, order).headers["location"], resolution="refund", method="label"
    )
    action, hidden = hidden_fields(client.get(second.headers["location"]).text)
    answer = client.post(action, data={**hidden, "expected_total": "999999"}, follow_redirects=False)
    assert answer.status_code == 409
    assert "The amount changed since you reviewed it" in text_of(answer.text)
    assert returns_of(factory) == []


def test_a_tampered_draft_is_refused(
    client: TestClient, factory: sessionmaker[Session], order: Returnable
) -> None:
    second = choose_options(
        client, choose_items(client, order).headers["location"], resolution="refund", method="label"
    )
    action, hidden = hidden_fields(client.get(second.headers["location"]).text)
    forged = hidden["d"][:-8] + ("A" * 8 if not hidden["d"].endswith("A" * 8) else "B" * 8)
    answer = client.post(action, data={**hidden, "d": forged}, follow_redirects=False)
    assert answer.status_code == 400
    assert "This form was changed or is more than a day old" in text_of(answer.text)
    assert returns_of(factory) == []


def test_another_orders_item_is_refused(
    client: TestClient, factory: sessionmaker[Session], order: Returnable, store: StoreWithKey
) -> None:
    other = returnable_order(factory, store.id, 2)
    answer = choose_items(client, order, data={"item": [other.lines[0]], f"qty-{other.lines[0]}": "1",
                                                f"reason-{other.lines[0]}": "too_small"})  # fmt: skip
    assert answer.status_code == 400
    assert "not part of this order" in text_of(answer.text)


def test_missing_csrf_is_refused(client: TestClient, order: Returnable) -> None:
    answer = choose_items(client, order, data={"csrf": "0" * 64})
    assert answer.status_code == 403
    assert "expired or was sent from another page" in text_of(answer.text)


def test_final_sale_item_shows_its_reason_and_cannot_be_chosen(client: TestClient, order: Returnable) -> None:
    page = client.get(f"/r/new/{order.token}?lang=en")
    assert "This item was a final sale, so it cannot be returned." in text_of(page.text)
    cap = order.lines[1]
    answer = choose_items(
        client, order, data={"item": [cap], f"qty-{cap}": "1", f"reason-{cap}": "too_small"}
    )
    assert answer.status_code == 422
    assert "Cap: This item was a final sale" in text_of(answer.text)


def test_too_many_units_are_refused(client: TestClient, order: Returnable) -> None:
    tee = order.lines[0]
    answer = choose_items(client, order, data={f"qty-{tee}": "3"})
    assert answer.status_code == 422
    assert "choose a quantity from 1 to 2" in text_of(answer.text)


def test_damaged_needs_a_photo_and_a_non_image_is_refused(
    client: TestClient, factory: sessionmaker[Session], order: Returnable
) -> None:
    tee = order.lines[0]
    no_photo = choose_items(client, order, data={f"reason-{tee}": "damaged"})
    assert no_photo.status_code == 422
    assert "add a photo that shows the problem" in text_of(no_photo.text)
    fake = choose_items(
        client, order, data={f"reason-{tee}": "damaged"},
        files=[(f"photos-{tee}", ("photo.jpg", b"%PDF-1.4 not a photo", "image/jpeg"))],
    )  # fmt: skip
    assert fake.status_code == 422
    assert "photo.jpg is not a photo (JPEG, PNG or WebP)" in text_of(fake.text)
    with read_transaction(factory) as session:
        assert session.scalar(select(func.count()).select_from(EvidencePhoto)) == 0


def test_a_real_photo_is_kept_and_attached_to_the_item(
    client: TestClient, factory: sessionmaker[Session], order: Returnable
) -> None:
    tee = order.lines[0]
    first = choose_items(
        client, order, data={f"reason-{tee}": "damaged"},
        files=[(f"photos-{tee}", ("IMG_0001.HEIC", png(), "application/octet-stream"))],
    )  # fmt: skip
    assert first.status_code == 303, first.text
    second = choose_options(client, first.headers["location"], resolution="refund", method="qr_dropoff")
    action, hidden = hidden_fields(client.get(second.headers["location"]).text)
    assert client.post(action, data=hidden, follow_redirects=False).status_code == 303
    [created] = returns_of(factory)
    [photo_id] = created.items[0].photos
    with read_transaction(factory) as session:
        photo = session.scalars(select(EvidencePhoto).where(EvidencePhoto.public_id == photo_id)).one()
        assert (photo.content_type, photo.width, photo.height) == ("image/png", 40, 30)


def test_exchange_path_offers_the_products_variants(
    client: TestClient, factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    set_policy(factory, store.id)
    lines = [{"external_id": "li-x", "product_id": "tee", "variant_id": "tee-m", "title": "Merino Tee",
              "variant_title": "M", "quantity": 1, "unit_price_minor": 6800}]  # fmt: skip
    returnable_order(factory, store.id, 7, line_items=[{**lines[0], "external_id": "li-l", "variant_id": "tee-l",
                                                        "variant_title": "L"}])  # fmt: skip
    order = returnable_order(factory, store.id, 8, line_items=lines)
    first = choose_items(client, order)
    options = client.get(first.headers["location"])
    assert "L · $68.00" in text_of(options.text)
    second = choose_options(client, first.headers["location"], resolution="exchange", method="label",
                            **{f"variant-{order.lines[0]}": "tee-l"})  # fmt: skip
    assert second.status_code == 303, second.text
    review = client.get(second.headers["location"])
    assert "Your replacement" in text_of(review.text)
    assert "Too small \u00b7 exchange for L" in text_of(review.text)
    action, hidden = hidden_fields(review.text)
    assert client.post(action, data=hidden, follow_redirects=False).status_code == 303
    [created] = list(returns_of(factory))
    assert created.resolution == "exchange"
    assert created.items[0].exchange_variant_id == "tee-l"


def test_unknown_order_token_looks_like_any_dead_link(client: TestClient) -> None:
    answer = client.get("/r/new/" + "x" * 32)
    assert answer.status_code == 404
    assert "This tracking link does not work" in answer.text


def test_security_headers_and_no_caching_on_form_pages(client: TestClient, order: Returnable) -> None:
    page = client.get(f"/r/new/{order.token}")
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert page.headers["cache-control"] == "no-store"
    assert "samesite=strict" in page.headers["set-cookie"].lower()
    assert "<script" not in page.text


def test_changing_answers_after_confirming_makes_a_second_return_not_a_conflict(
    client: TestClient, factory: sessionmaker[Session], order: Returnable
) -> None:
    options_url = choose_items(client, order).headers["location"]
    second = choose_options(client, options_url, resolution="refund", method="label")
    action, hidden = hidden_fields(client.get(second.headers["location"]).text)
    assert client.post(action, data=hidden, follow_redirects=False).status_code == 303
    # The shopper goes back to the options page of the same draft and picks store credit instead
    again = choose_options(client, options_url, resolution="store_credit", method="label")
    action, hidden = hidden_fields(client.get(again.headers["location"]).text)
    answer = client.post(action, data=hidden, follow_redirects=False)
    assert answer.status_code == 303, text_of(answer.text)
    assert [r.resolution for r in returns_of(factory)] == ["refund", "store_credit"]
