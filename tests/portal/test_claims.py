"""Reporting a problem with a parcel from the tracking page (package-protection claims) over HTTP."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from doorstep.returns.models import Claim
from tests.factories.stores import StoreWithKey
from tests.portal.returns_helpers import Returnable, hidden_fields, returnable_order, set_policy, text_of
from tests.portal.test_returns import png


@pytest.fixture
def delivered(factory: sessionmaker[Session], store: StoreWithKey) -> Returnable:
    set_policy(factory, store.id)
    return returnable_order(factory, store.id, days_ago=3)


def claims_of(factory: sessionmaker[Session]) -> list[Claim]:
    with factory() as session:
        return list(session.scalars(select(Claim)).unique())


def report(client: TestClient, token: str, files: Any = None, **fields: str) -> Any:
    page = client.get(f"/t/{token}/problem/1?lang=en")
    assert page.status_code == 200, page.text
    action, hidden = hidden_fields(page.text)
    return client.post(action, data={**hidden, **fields}, files=files, follow_redirects=False)


def test_the_tracking_page_links_to_returns_and_problem_reports(
    client: TestClient, delivered: Returnable
) -> None:
    page = text_of(client.get(f"/t/{delivered.token}?lang=en").text)
    assert "Need to return something?" in page
    assert "Problem with your parcel?" in page
    html = client.get(f"/t/{delivered.token}?lang=en").text
    assert f'href="/r/new/{delivered.token}?lang=en"' in html
    assert f'href="/t/{delivered.token}/problem/1?lang=en"' in html


def test_a_damage_report_needs_a_photo_then_is_filed(
    client: TestClient, factory: sessionmaker[Session], delivered: Returnable
) -> None:
    without = report(client, delivered.token, kind="damaged", resolution="reship")
    assert without.status_code == 422
    assert "Add a photo that shows the problem." in text_of(without.text)
    assert claims_of(factory) == []
    filed = report(client, delivered.token, files=[("photos", ("box.png", png("brown"), "image/png"))],
                   kind="damaged", resolution="refund", description="Box crushed")  # fmt: skip
    assert filed.status_code == 303, filed.text
    [claim] = claims_of(factory)
    assert claim.kind == "damaged"
    assert claim.preferred_resolution == "refund"
    assert claim.description == "Box crushed"
    assert len(claim.evidence) == 1
    status = text_of(client.get(filed.headers["location"]).text)
    assert "Damaged" in status
    assert "Refund me" in status


def test_the_same_form_sent_twice_is_one_claim(
    client: TestClient, factory: sessionmaker[Session], delivered: Returnable
) -> None:
    page = client.get(f"/t/{delivered.token}/problem/1?lang=en")
    action, hidden = hidden_fields(page.text)
    fields = {**hidden, "kind": "wrong_item", "resolution": "reship"}
    photo = [("photos", ("wrong.png", png("blue"), "image/png"))]
    one = client.post(action, data=fields, files=photo, follow_redirects=False)
    two = client.post(action, data=fields, files=photo, follow_redirects=False)
    assert one.status_code == two.status_code == 303
    assert one.headers["location"] == two.headers["location"]
    assert len(claims_of(factory)) == 1


def test_a_parcel_in_transit_cannot_be_reported_lost_yet(
    client: TestClient, factory: sessionmaker[Session], store: StoreWithKey, tracked: dict[str, Any]
) -> None:
    token = tracked["link"].rsplit("/", 1)[-1]
    page = client.get(f"/t/{token}/problem/1?lang=en")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "Nothing can be reported for this parcel right now" in text
    assert "The carrier still reports this parcel as on its way." in text
    assert "Problem with your parcel?" not in text_of(client.get(f"/t/{token}?lang=en").text)


def test_unknown_parcel_and_foreign_claim_links_are_dead(client: TestClient, delivered: Returnable) -> None:
    assert client.get(f"/t/{delivered.token}/problem/2").status_code == 404
    assert client.get(f"/t/{delivered.token}/claims/{'x' * 32}").status_code == 404
