"""/dev/outbox in a real browser (Debian's Chromium via Playwright): messages sent through the devbox channel
are listed, an email opens rendered in a sandboxed frame with its text part, an SMS shows its segments.
Screenshots go to test-artifacts/screenshots/outbox-*.png. Nothing leaves the host: the store's (made-up)
CDN is answered by the test itself."""

import os
import socket
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from doorstep import migrate
from doorstep.app import create_app
from doorstep.config import Settings
from doorstep.db import make_engine, make_session_factory
from tests.factories.stores import make_store

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CDN = "https://cdn.juniper.example"

pytestmark = pytest.mark.browser

if not CHROMIUM.exists():
    if os.environ.get("CI") == "true":
        raise RuntimeError(
            "CI needs Chromium at /usr/bin/chromium: .ci/run installs Debian's chromium package"
        )
    pytest.skip(
        "Chromium is not installed at /usr/bin/chromium (apt-get install chromium)", allow_module_level=True
    )

sync_api = pytest.importorskip("playwright.sync_api")


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid-colour PNG, so the email's images have something to show offline."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    path = tmp_path_factory.mktemp("outbox") / "doorstep.sqlite3"
    settings = Settings(database_url=f"sqlite:///{path}")  # env=dev: devbox on
    engine = make_engine(settings)
    migrate.upgrade(engine)
    store = make_store(
        make_session_factory(engine), "juniper", name="Juniper & Pine", support_email="help@juniper.example"
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    uv = uvicorn.Server(
        uvicorn.Config(create_app(settings, engine=engine), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not uv.started and time.monotonic() < deadline:
        time.sleep(0.02)
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, headers=store.headers) as api:
        branding = {"logo_url": f"{CDN}/logo.png", "primary_color": "#7a3e9d", "accent_color": "#d97706"}
        assert api.patch("/api/v1/stores/me/branding", json=branding).status_code == 200
        for template, to in (
            ("shipment.shipped:email:en", "ana@example.com"),
            ("shipment.delayed:sms:pt_BR", "+5511987654321"),
        ):
            sent = api.post(f"/api/v1/templates/{template}/test-send", json={"to": to})
            assert sent.status_code == 200, sent.text
    yield base, store
    uv.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


def test_the_outbox_lists_and_shows_messages(server: tuple[str, Any], browser: Any) -> None:
    base, _ = server
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    remote: list[str] = []

    def answer(route: Any) -> None:
        url = route.request.url
        if url.startswith(base):
            route.continue_()
        elif url.startswith(CDN):
            route.fulfill(status=200, content_type="image/png", body=_png(140, 48, (122, 62, 157)))
        else:
            remote.append(url)
            route.abort()

    context.route("**/*", answer)
    page = context.new_page()
    page.goto(f"{base}/dev/outbox")
    assert page.get_by_role("heading", level=1).inner_text() == "Outbox"
    rows = page.locator("tbody tr")
    assert rows.count() == 2
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "outbox-list.png"), full_page=True)

    # the SMS: its text and its segment count
    page.get_by_role("link", name="Juniper & Pine: desculpe").click()
    assert "GSM-7" in page.locator("dl").inner_text()
    assert "pedido #1042 atrasou" in page.locator(".sms").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "outbox-sms.png"), full_page=True)

    # the email: subject, HTML in a sandboxed frame (no scripts, opaque origin), and the text part
    page.go_back()
    page.get_by_role("link", name="Your order #1042 is on its way").click()
    frame_element = page.locator("iframe")
    assert frame_element.get_attribute("sandbox") == ""
    frame = page.frame_locator("iframe")
    assert frame.get_by_text("Your order is on its way").is_visible()
    assert frame.get_by_role("link", name="Track your order").is_visible()
    assert frame.get_by_alt_text("Juniper & Pine").is_visible()
    assert "Order #1042" in page.locator("pre").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "outbox-email.png"), full_page=True)
    assert remote == []
    context.close()


def test_the_outbox_is_not_served_when_devbox_is_off(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from doorstep.config import ChannelSettings

    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'x.sqlite3'}", channels=ChannelSettings(devbox=False)
    )
    engine = make_engine(settings)
    migrate.upgrade(engine)
    with TestClient(create_app(settings, engine=engine)) as client:
        assert client.get("/dev/outbox").status_code == 404
    engine.dispose()


def test_the_email_is_responsive(server: tuple[str, Any], browser: Any) -> None:
    """The HTML itself at phone and desktop widths: no sideways scrolling, the button stays on screen."""
    base, _ = server
    with httpx.Client(base_url=base) as web:
        listing = web.get("/dev/outbox").text
    email_row = next(row for row in listing.split("<tr>") if '<span class="kind">email</span>' in row)
    outbox_id = email_row.split('href="/dev/outbox/')[1].split('"')[0]
    for name, width in (("mobile", 390), ("desktop", 1200)):
        context = browser.new_context(viewport={"width": width, "height": 900})
        context.route(
            "**/*",
            lambda route: (
                route.fulfill(status=200, content_type="image/png", body=_png(140, 48, (122, 62, 157)))
                if route.request.url.startswith(CDN)
                else (route.continue_() if route.request.url.startswith(base) else route.abort())
            ),
        )
        page = context.new_page()
        page.goto(f"{base}/dev/outbox/{outbox_id}/html")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        button = page.get_by_role("link", name="Track your order").bounding_box()
        assert button is not None
        assert button["x"] >= 0
        assert button["x"] + button["width"] <= width
        page.screenshot(path=str(SCREENSHOTS / f"outbox-email-{name}.png"), full_page=True)
        context.close()
