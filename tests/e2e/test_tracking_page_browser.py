"""The tracking page in a real browser (Debian's Chromium driven by Playwright).

Looks up an order, reads the timeline in two languages, checks that no request leaves the host and that
the accessibility tree has landmarks, headings and names, and saves a screenshot of every status at
mobile and desktop widths into test-artifacts/screenshots/ (kept by the test run, gitignored).
"""

import os
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from doorstep import migrate
from doorstep.app import create_app
from doorstep.config import Settings
from doorstep.core import clock
from doorstep.db import make_engine, make_session_factory
from tests.factories.orders import checkpoint, order_body
from tests.factories.stores import make_store

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
SIZES = {"mobile": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}

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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    path = tmp_path_factory.mktemp("browser") / "doorstep.sqlite3"
    settings = Settings(database_url=f"sqlite:///{path}")
    engine = make_engine(settings)
    migrate.upgrade(engine)
    store = make_store(
        make_session_factory(engine), "acme", name="Juniper & Pine", support_email="help@juniper.example",
        support_phone="+14155550100", support_url="https://juniper.example/help",
    )  # fmt: skip
    port = _free_port()
    uv = uvicorn.Server(
        uvicorn.Config(create_app(settings, engine=engine), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not uv.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", store
    uv.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


def _journey(status: str) -> list[dict[str, Any]]:
    now = clock.now()
    at = lambda hours: (now - timedelta(hours=hours)).isoformat()  # noqa: E731
    base = [
        checkpoint(at(70), "info_received", message="Shipping label created", city="Reno", region="NV", country="US"),
        checkpoint(at(60), "in_transit", message="Picked up by carrier", city="Reno", region="NV", country="US"),
        checkpoint(at(40), "in_transit", message="Departed facility", city="Salt Lake City", region="UT", country="US"),
        checkpoint(at(20), "in_transit", message="Arrived at hub", city="Louisville", region="KY", country="US"),
    ]  # fmt: skip
    last = {
        "pending": [],
        "in_transit": base,
        "delayed": base,
        "out_for_delivery": [*base, checkpoint(at(3), "out_for_delivery", message="Out for delivery",
                                               city="Brooklyn", region="NY", country="US")],
        "exception": [*base, checkpoint(at(3), "exception", "address_issue", message="Address incomplete",
                                        city="Brooklyn", region="NY", country="US")],
        "pickup": [*base, checkpoint(at(3), "available_for_pickup", message="Ready at UPS Access Point, 12 Court St",
                                     city="Brooklyn", region="NY", postal_code="11201", country="US")],
        "delivered": [*base, checkpoint(at(5), "out_for_delivery", message="Out for delivery", city="Brooklyn",
                                        region="NY", country="US"),
                      checkpoint(at(2), "delivered", "to_door", message="Delivered, front door", city="Brooklyn",
                                 region="NY", country="US")],
    }  # fmt: skip
    return last[status]


STATUSES = ("pending", "in_transit", "out_for_delivery", "delayed", "exception", "pickup", "delivered")


@pytest.fixture(scope="module")
def links(server: tuple[str, Any]) -> dict[str, str]:
    base, store = server
    today = clock.now().date()
    found: dict[str, str] = {}
    with httpx.Client(base_url=base, headers=store.headers) as api:
        for n, status in enumerate(STATUSES, start=1):
            body = order_body(
                n, customer={**order_body(n)["customer"], "locale": "en", "timezone": "America/New_York"}
            )
            order = api.post("/api/v1/orders", json=body).json()
            shipment = {
                "order_id": order["id"], "carrier": "ups", "service": "Ground",
                "tracking_number": f"1Z999AA1012345678{n}",
                "promised_on": (today + timedelta(days=-1 if status == "delayed" else 2)).isoformat(),
            }  # fmt: skip
            parcel = api.post("/api/v1/shipments", json=shipment).json()
            if status in ("in_transit", "delayed"):
                expected = today + timedelta(days=3 if status == "delayed" else 2)
                api.patch(f"/api/v1/shipments/{parcel['id']}", json={"expected_on": expected.isoformat()})
            if scans := _journey(status):
                answer = api.post(
                    f"/api/v1/shipments/{parcel['id']}/checkpoints", json={"checkpoints": scans}
                )
                assert answer.status_code == 201, answer.text
            found[status] = api.get(f"/api/v1/orders/{order['id']}/status-link").json()["path"]
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


def test_lookup_leads_to_the_page(server: tuple[str, Any], links: dict[str, str], browser: Any) -> None:
    base, _ = server
    page = browser.new_page()
    page.goto(f"{base}/track/acme?lang=en")
    page.get_by_label("Order number").fill("#1002")
    page.get_by_label("E-mail or postal code").fill("shopper2@example.com")
    page.get_by_role("button", name="Find my order").click()
    page.wait_for_url(f"{base}{links['in_transit']}*")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Arriving")
    page.close()


def test_timeline_in_two_languages(server: tuple[str, Any], links: dict[str, str], browser: Any) -> None:
    base, _ = server
    page = browser.new_page()
    page.goto(f"{base}{links['out_for_delivery']}?lang=es")
    assert page.get_by_role("heading", level=1).inner_text() == "Llega hoy"
    assert "En reparto" in page.locator(".timeline").first.inner_text()
    page.get_by_role("link", name="Deutsch").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Kommt heute an"
    assert "In Zustellung" in page.locator(".timeline").first.inner_text()
    page.close()


def test_no_request_leaves_the_host(server: tuple[str, Any], links: dict[str, str], browser: Any) -> None:
    base, _ = server
    page = browser.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{base}{links['delivered']}")
    page.wait_for_load_state("networkidle")
    assert requested, "the page made no requests at all"
    assert [url for url in requested if not url.startswith((base, "data:"))] == []
    page.close()


def test_accessibility_tree_has_landmarks_headings_and_names(
    server: tuple[str, Any], links: dict[str, str], browser: Any
) -> None:
    base, _ = server
    page = browser.new_page()
    page.goto(f"{base}{links['pickup']}?lang=en")
    tree = page.locator("body").aria_snapshot()
    for expected in ("- banner", "- main", "- contentinfo", '- heading "Ready for pickup" [level=1]',
                     '- list "Delivery progress"', '- navigation "Language"', '- heading "Pickup point" [level=3]',
                     '- heading "Need help?" [level=2]'):  # fmt: skip
        assert expected in tree, tree
    unnamed = page.eval_on_selector_all(
        "a, button, input",
        "els => els.filter(e => !(e.innerText || e.labels?.[0]?.innerText || e.getAttribute('aria-label') || e.type === 'hidden')).length",
    )
    assert unnamed == 0
    page.close()


@pytest.mark.parametrize("status", STATUSES)
def test_screenshot_every_status(
    server: tuple[str, Any], links: dict[str, str], browser: Any, status: str
) -> None:
    base, _ = server
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for name, size in SIZES.items():
        page = browser.new_page(viewport=size)
        response = page.goto(f"{base}{links[status]}?lang=en")
        assert response is not None
        assert response.status == 200
        page.screenshot(path=str(SCREENSHOTS / f"{status}-{name}.png"), full_page=True)
        page.close()
    assert (SCREENSHOTS / f"{status}-mobile.png").stat().st_size > 0
