"""PATCH /api/v1/stores/me/branding, its contrast warnings and sanitising, and the preview."""

from typing import Any

from fastapi.testclient import TestClient

from doorstep.stores import branding
from tests.factories.stores import StoreWithKey


def patch(client: TestClient, store: StoreWithKey, body: dict[str, Any]) -> Any:
    return client.patch("/api/v1/stores/me/branding", json=body, headers=store.headers)


def test_defaults_pass_contrast(client: TestClient, store: StoreWithKey) -> None:
    got = client.get("/api/v1/stores/me/branding", headers=store.headers)
    assert got.status_code == 200
    assert got.json()["warnings"] == []


def test_colours_that_fail_aa_are_warned_about(client: TestClient, store: StoreWithKey) -> None:
    answer = patch(client, store, {"primary_color": "#FFD700", "accent_color": "#eee"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["primary_color"] == "#ffd700"
    fields = [w["field"] for w in body["warnings"]]
    assert "primary_color" in fields
    assert "accent_color" in fields
    assert "4.5:1" in body["warnings"][0]["message"]


def test_invalid_values_are_refused_with_the_field(client: TestClient, store: StoreWithKey) -> None:
    for body in ({"primary_color": "red"}, {"logo_url": "http://cdn.example/logo.png"},
                 {"font_stack": "Inter; } body { display:none"}, {"hostname": "https://x.example/"}):  # fmt: skip
        answer = patch(client, store, body)
        assert answer.status_code == 422, body
        assert answer.json()["errors"][0]["field"] == next(iter(body))


def test_custom_css_is_sanitised(client: TestClient, store: StoreWithKey) -> None:
    css = (
        "@import url(https://evil.example/x.css); h1{color:red;background:url(http://x.example/a.png)}"
        " p{width:expression(alert(1))} .a{background:url('https://cdn.example/ok.png')}</style><script>"
    )
    body = patch(client, store, {"custom_css": css}).json()
    saved = body["custom_css"]
    for bad in ("@import", "http://", "expression(", "</style", "<script"):
        assert bad not in saved
    assert 'url("https://cdn.example/ok.png")' in saved
    assert "color:red" in saved
    assert any(w["field"] == "custom_css" for w in body["warnings"])


def test_the_hostname_belongs_to_one_store(
    client: TestClient, store: StoreWithKey, other_store: StoreWithKey
) -> None:
    assert patch(client, store, {"hostname": "Track.Acme.Example"}).json()["hostname"] == "track.acme.example"
    assert patch(client, other_store, {"hostname": "track.acme.example"}).status_code == 409
    assert patch(client, store, {"hostname": None}).json()["hostname"] is None


def test_branding_reaches_the_theme_stylesheet(
    client: TestClient, store: StoreWithKey, tracked: dict[str, Any]
) -> None:
    patch(
        client,
        store,
        {"background_color": "#101820", "primary_color": "#f2aa4c", "logo_url": "https://cdn.example/l.png"},
    )
    html = client.get(tracked["link"]).text
    assert 'src="https://cdn.example/l.png"' in html
    theme_href = html.split('rel="stylesheet" href="')[2].split('"')[0]
    css = client.get(theme_href).text
    assert "--bg:#101820" in css
    assert "--fg:#ffffff" in css


def test_preview_renders_draft_settings_without_saving(client: TestClient, store: StoreWithKey) -> None:
    page = client.get(
        "/api/v1/stores/me/branding/preview",
        params={"primary_color": "#8a2be2", "status": "delayed", "lang": "en"},
        headers=store.headers,
    )
    assert page.status_code == 200
    assert "--button:#8a2be2" in page.text
    assert "Delayed" in page.text
    assert "style-src 'self' 'sha256-" in page.headers["content-security-policy"]
    stored = client.get("/api/v1/stores/me/branding", headers=store.headers).json()
    assert stored["primary_color"] == branding.DEFAULTS["primary_color"]
    assert client.get("/api/v1/stores/me/branding/preview", params={"primary_color": "nope"},
                      headers=store.headers).status_code == 422  # fmt: skip
    assert client.get("/api/v1/stores/me/branding/preview").status_code == 401


def test_contrast_maths() -> None:
    assert round(branding.contrast("#000000", "#ffffff"), 1) == 21.0
    assert branding.contrast(branding.ensure_contrast("#ffd700", "#ffffff", 4.5), "#ffffff") >= 4.5
