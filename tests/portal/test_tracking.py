"""/t/{token}: content, headers, caching, visits, revocation, tenancy and custom domains."""

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from starlette.routing import Match

from doorstep.db import transaction
from doorstep.portal import tracking
from doorstep.stores import service as store_service
from doorstep.stores.commands import UpdateBranding
from tests.factories.stores import StoreWithKey
from tests.portal.conftest import make_tracked

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' https: data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def test_the_page_shows_the_parcel_in_the_shoppers_language(
    client: TestClient, tracked: dict[str, Any]
) -> None:
    page = client.get(tracked["link"])
    assert page.status_code == 200
    assert page.headers["content-language"] == "pt-BR"  # the customer's locale
    html = page.text
    assert "Em trânsito" in html
    assert "https://www.ups.com/track?tracknum=1Z999AA10123456781" in html
    assert "Merino Tee" in html
    assert "Quantidade: 2" in html
    assert "Ana S." in html
    assert "1 M•••" in html
    assert "787••" in html
    assert "1 Main St" not in html
    assert "78704" not in html
    assert "shopper1@example.com" not in html.lower()


def test_lang_query_wins_then_accept_language(client: TestClient, tracked: dict[str, Any]) -> None:
    assert 'lang="es"' in client.get(tracked["link"] + "?lang=es").text
    assert "Tracking history" in client.get(tracked["link"] + "?lang=en").text
    assert client.get(tracked["link"] + "?lang=de").headers["content-language"] == "de"


def test_a_lang_that_is_not_a_language_tag_is_ignored(client: TestClient, tracked: dict[str, Any]) -> None:
    page = client.get(tracked["link"], params={"lang": "x" * 300})
    assert page.status_code == 200
    assert page.headers["content-language"] == "pt-BR"  # as without ?lang=: the customer's locale


def test_security_headers(client: TestClient, tracked: dict[str, Any]) -> None:
    page = client.get(tracked["link"])
    revisit = client.get(tracked["link"], headers={"If-None-Match": page.headers["etag"]})
    assert revisit.status_code == 304
    for headers in (page.headers, revisit.headers):
        assert headers["content-security-policy"] == CSP
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-frame-options"] == "DENY"
        assert headers["cache-control"] == "private, no-cache"
        assert headers["vary"] == "Accept-Language"
        assert headers["etag"] == page.headers["etag"]
        assert headers["content-language"] == "pt-BR"
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert int(page.headers["content-length"]) == len(page.content)
    assert "content-type" not in revisit.headers
    assert "content-length" not in revisit.headers


def test_a_head_request_gets_the_headers_without_the_page(
    client: TestClient, tracked: dict[str, Any]
) -> None:
    head = client.head(tracked["link"])
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["etag"] == client.get(tracked["link"]).headers["etag"]


def test_repeat_visits_get_304_and_every_view_is_counted(
    client: TestClient, factory: sessionmaker[Session], store: StoreWithKey, tracked: dict[str, Any]
) -> None:
    first = client.get(tracked["link"])
    again = client.get(tracked["link"], headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""
    other_lang = client.get(tracked["link"] + "?lang=fr", headers={"If-None-Match": first.headers["etag"]})
    assert other_lang.status_code == 200
    client.app.state.tracking_visits.flush(factory)  # type: ignore[attr-defined]  # written once a second
    link = client.get(f"/api/v1/orders/{tracked['id']}/status-link", headers=store.headers).json()
    assert link["visits"] == 3
    assert link["last_visit_at"] is not None


def test_a_new_scan_changes_the_etag(
    client: TestClient, store: StoreWithKey, tracked: dict[str, Any]
) -> None:
    etag = client.get(tracked["link"]).headers["etag"]
    client.post(
        f"/api/v1/shipments/{tracked['shipment_id']}/checkpoints",
        json={"checkpoints": [{"occurred_at": "2026-11-23T08:00:00-05:00", "status": "out_for_delivery"}]},
        headers=store.headers,
    )
    fresh = client.get(tracked["link"], headers={"If-None-Match": etag})
    assert fresh.status_code == 200
    assert fresh.headers["etag"] != etag


def test_rotating_the_link_revokes_the_old_one(
    client: TestClient, store: StoreWithKey, tracked: dict[str, Any]
) -> None:
    rotated = client.post(f"/api/v1/orders/{tracked['id']}/status-link/rotate", headers=store.headers)
    assert rotated.status_code == 200
    new = rotated.json()
    assert new["path"] != tracked["link"]
    assert len(new["token"]) >= 22
    assert client.get(tracked["link"]).status_code == 404
    assert client.get(new["path"]).status_code == 200


def test_unknown_and_revoked_links_look_the_same(client: TestClient) -> None:
    unknown = client.get("/t/" + "x" * 32)
    assert unknown.status_code == 404
    assert "This tracking link does not work" in unknown.text
    assert unknown.headers["content-security-policy"] == CSP


def test_another_stores_api_key_cannot_rotate_the_link(
    client: TestClient, other_store: StoreWithKey, tracked: dict[str, Any]
) -> None:
    answer = client.post(f"/api/v1/orders/{tracked['id']}/status-link/rotate", headers=other_store.headers)
    assert answer.status_code == 404
    assert client.get(tracked["link"]).status_code == 200


def test_a_custom_domain_serves_only_its_own_stores_pages(
    client: TestClient, factory: sessionmaker[Session], store: StoreWithKey, other_store: StoreWithKey,
    tracked: dict[str, Any],
) -> None:  # fmt: skip
    with transaction(factory) as session:
        store_service.update_branding(
            session, store_id=store.id, cmd=UpdateBranding(hostname="track.acme.example")
        )
        store_service.update_branding(
            session, store_id=other_store.id, cmd=UpdateBranding(hostname="track.globex.example")
        )
    assert client.get(tracked["link"], headers={"Host": "track.acme.example"}).status_code == 200
    foreign = client.get(tracked["link"], headers={"Host": "track.globex.example"})
    assert foreign.status_code == 404
    assert 'href="/track"' in foreign.text
    home = client.get("/", headers={"Host": "track.acme.example"})
    assert home.status_code == 200
    assert "Acme Outfitters" in home.text
    assert client.get("/", headers={"Host": "unknown.example"}).status_code == 404


def test_stylesheets_are_cached_for_a_year(client: TestClient, tracked: dict[str, Any]) -> None:
    html = client.get(tracked["link"]).text
    hrefs = [part.split('"')[0] for part in html.split('rel="stylesheet" href="')[1:]]
    assert len(hrefs) == 2
    for href in hrefs:
        css = client.get(href)
        assert css.status_code == 200
        assert css.headers["content-type"].startswith("text/css")
        assert "immutable" in css.headers["cache-control"]


def test_the_page_and_its_css_stay_under_30_kb(client: TestClient, tracked: dict[str, Any]) -> None:
    page = client.get(tracked["link"])
    hrefs = [part.split('"')[0] for part in page.text.split('rel="stylesheet" href="')[1:]]
    total = len(page.content) + sum(len(client.get(h).content) for h in hrefs)
    assert total < 30_000
    assert "<script" not in page.text


def test_recommendations_come_from_co_purchases_then_best_sellers(
    client: TestClient, store: StoreWithKey
) -> None:
    def items(*products: str) -> list[dict[str, Any]]:
        return [
            {"external_id": f"li-{p}", "product_id": p, "title": f"Product {p}", "quantity": 1,
             "unit_price_minor": 1000}
            for p in products
        ]  # fmt: skip

    for n, products in enumerate([("A", "B"), ("A", "B"), ("A", "C"), ("D",), ("D",), ("D",)], start=10):
        client.post(
            "/api/v1/orders", json={**_order(n), "line_items": items(*products)}, headers=store.headers
        )
    order = make_tracked(client, store, 2, line_items=items("A"))
    html = client.get(order["link"] + "?lang=en").text
    recs = html.split("You might also like")[1]
    assert recs.index("Product B") < recs.index("Product C") < recs.index("Product D")
    assert "Product A" not in recs


def _order(n: int) -> dict[str, Any]:
    from tests.factories.orders import order_body

    return order_body(n)


def test_the_page_route_is_matched_before_any_included_router(client: TestClient) -> None:
    """FastAPI re-matches a route at every level of included routers; the page is found at the top."""
    scope = {"type": "http", "path": "/t/" + "a" * 43, "method": "GET", "headers": [], "root_path": ""}
    first = next(r for r in client.app.router.routes if r.matches(dict(scope))[0] == Match.FULL)  # type: ignore[attr-defined]
    assert first is tracking.page_route
