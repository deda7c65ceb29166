"""A demo order can be returned end to end: the seeded store's policy has a return address, so the label prints."""

import re

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from doorstep.demo import seed
from doorstep.returns.models import ReturnRequest
from tests.portal.returns_helpers import hidden_fields, text_of
from tests.returns.decoding import decode_pdf


def test_a_delivered_demo_order_is_returned_with_a_label_that_scans(
    client: TestClient, factory: sessionmaker[Session]
) -> None:
    seeded = seed.seed(factory, orders=10)
    token = seeded.tokens["delivered"]
    tracking = client.get(f"/t/{token}?lang=en")
    assert f'href="/r/new/{token}?lang=en"' in tracking.text
    page = client.get(f"/r/new/{token}?lang=en")
    line = re.findall(r'name="item" value="([^"]+)"', page.text)[0]
    action, hidden = hidden_fields(page.text)
    items = client.post(action, data={**hidden, "item": line, f"qty-{line}": "1", f"reason-{line}": "too_big"},
                        follow_redirects=False)  # fmt: skip
    assert items.status_code == 303, text_of(items.text)
    action, hidden = hidden_fields(client.get(items.headers["location"]).text)
    options = client.post(
        action, data={**hidden, "resolution": "refund", "method": "label"}, follow_redirects=False
    )
    assert options.status_code == 303, text_of(options.text)
    action, hidden = hidden_fields(client.get(options.headers["location"]).text)
    confirmed = client.post(action, data=hidden, follow_redirects=False)
    assert confirmed.status_code == 303
    status = confirmed.headers["location"].split("?")[0]
    assert "Download label (PDF)" in text_of(client.get(status + "?lang=en").text)
    with factory() as session:
        created = session.scalars(select(ReturnRequest)).unique().one()
    label = client.get(f"{status}/label.pdf")
    assert decode_pdf(label.content) == {"Code128": created.public_id, "QRCode": created.public_id}
