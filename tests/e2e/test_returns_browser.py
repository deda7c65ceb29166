"""The returns portal in a real browser (Debian's Chromium driven by Playwright).

Walks a full return from the tracking page on the refund path and on the exchange path, at mobile and
desktop widths, saving a screenshot of every step into test-artifacts/screenshots/returns/ (kept by the
test run, gitignored). Downloads the label and decodes its barcode and QR code back to the return's id,
checks that no request leaves the host, and reads the accessibility tree for landmarks and labels.
"""

import io
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from doorstep import migrate
from doorstep.app import create_app
from doorstep.config import Settings
from doorstep.db import make_engine, make_session_factory
from doorstep.returns.models import ReturnRequest
from tests.factories.stores import make_store
from tests.portal.returns_helpers import returnable_order, set_policy
from tests.returns.decoding import decode_pdf

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots" / "returns"
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
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, sessionmaker[Session], int]]:
    path = tmp_path_factory.mktemp("returns-browser") / "doorstep.sqlite3"
    settings = Settings(database_url=f"sqlite:///{path}")
    engine = make_engine(settings)
    migrate.upgrade(engine)
    factory = make_session_factory(engine)
    store = make_store(
        factory, "acme", name="Juniper & Pine", support_email="help@juniper.example",
        support_url="https://juniper.example/help",
    )  # fmt: skip
    set_policy(factory, store.id)
    # Another shopper bought the tee in L: the exchange offers the product's variants the store has sold.
    returnable_order(factory, store.id, 900, line_items=[_tee("L", 900)])
    port = _free_port()
    uv = uvicorn.Server(
        uvicorn.Config(create_app(settings, engine=engine), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not uv.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", factory, store.id
    uv.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


def _tee(size: str, n: int) -> dict[str, Any]:
    return {"external_id": f"li-{n}-{size}", "product_id": "merino-tee", "variant_id": f"merino-tee-{size.lower()}",
            "sku": f"TEE-{size}", "title": "Merino Tee", "variant_title": size, "quantity": 2,
            "unit_price_minor": 6800}  # fmt: skip


def _cap(n: int) -> dict[str, Any]:
    return {"external_id": f"li-{n}-cap", "sku": "CAP", "title": "Cap", "quantity": 1, "unit_price_minor": 2800,
            "is_final_sale": True}  # fmt: skip


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


def _photo() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "peru").save(buffer, "PNG")
    return buffer.getvalue()


class Walk:
    """One shopper's visit: a page that records every request and saves numbered screenshots."""

    def __init__(self, browser: Any, base: str, name: str, size: str) -> None:
        self.context = browser.new_context(viewport=SIZES[size], accept_downloads=True)
        self.page = self.context.new_page()
        self.base, self.name, self.size = base, name, size
        self.requested: list[str] = []
        self.page.on("request", lambda request: self.requested.append(request.url))
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def shot(self, step: str) -> None:
        self.page.screenshot(path=str(SCREENSHOTS / f"{self.name}-{step}-{self.size}.png"), full_page=True)

    def off_host(self) -> list[str]:
        return [url for url in self.requested if not url.startswith((self.base, "data:", "blob:"))]

    def close(self) -> None:
        self.context.close()


def _latest_return(factory: sessionmaker[Session]) -> ReturnRequest:
    with factory() as session:
        return session.scalars(select(ReturnRequest).order_by(ReturnRequest.id.desc())).unique().first()  # type: ignore[return-value]


def _start(walk: Walk, token: str) -> None:
    page = walk.page
    page.goto(f"{walk.base}/t/{token}?lang=en")
    walk.shot("0-tracking")
    page.get_by_role("link", name="Start a return").click()
    page.wait_for_url("**/r/new/**")
    assert page.get_by_role("heading", level=1).inner_text() == "Start a return"
    assert "This item was a final sale, so it cannot be returned." in page.locator("main").inner_text()


@pytest.mark.parametrize("size", list(SIZES))
def test_refund_path_end_to_end_with_label(server: tuple[str, Any, int], browser: Any, size: str) -> None:
    base, factory, store_id = server
    order = returnable_order(factory, store_id, 10 + len(size), line_items=[_tee("M", 10), _cap(10)])
    walk = Walk(browser, base, "refund", size)
    page = walk.page
    _start(walk, order.token)
    page.get_by_label("Return this item").check()
    page.get_by_label("How many").select_option("2")
    page.get_by_label("Reason").select_option("not_as_described")
    page.get_by_label("Anything we should know? (optional)").fill("One seam came apart after the first wash.")
    page.get_by_label("Photos (optional)").set_input_files(
        files=[{"name": "seam.png", "mimeType": "image/png", "buffer": _photo()}]
    )
    walk.shot("1-items")
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/options?**")
    page.get_by_label("Refund").check()
    page.get_by_label("Prepaid label").check()
    walk.shot("2-options")
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/review?**")
    summary = page.locator("main").inner_text()
    assert "Merino Tee \u00d7 2" in summary
    assert "You get back" in summary
    walk.shot("3-review")
    page.get_by_role("button", name="Confirm return").click()
    page.wait_for_url("**/r/*")
    assert page.get_by_role("heading", level=1).inner_text() == "Return approved"
    walk.shot("4-status")
    created = _latest_return(factory)
    assert created.resolution == "refund"
    assert len(created.items[0].photos) == 1
    assert created.status == "approved"
    with page.expect_download() as download:
        page.get_by_role("link", name="Download label (PDF)").click()
    pdf = Path(download.value.path()).read_bytes()
    decoded = decode_pdf(pdf, keep=SCREENSHOTS / f"refund-5-label-{size}.png")
    assert decoded == {"Code128": created.public_id, "QRCode": created.public_id}
    assert walk.off_host() == []
    walk.close()


@pytest.mark.parametrize("size", list(SIZES))
def test_exchange_path_end_to_end_with_qr_drop_off(
    server: tuple[str, Any, int], browser: Any, size: str
) -> None:
    base, factory, store_id = server
    order = returnable_order(factory, store_id, 20 + len(size), line_items=[_tee("M", 20), _cap(20)])
    walk = Walk(browser, base, "exchange", size)
    page = walk.page
    _start(walk, order.token)
    page.get_by_label("Return this item").check()
    page.get_by_label("Reason").select_option("too_small")
    walk.shot("1-items")
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/options?**")
    page.get_by_label("Exchange").check()
    page.get_by_label("Merino Tee (M)").select_option("merino-tee-l")
    page.get_by_label("QR code, no printer").check()
    walk.shot("2-options")
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/review?**")
    assert "Your replacement" in page.locator("main").inner_text()
    walk.shot("3-review")
    page.get_by_role("button", name="Confirm return").click()
    page.wait_for_url("**/r/*")
    walk.shot("4-status")
    created = _latest_return(factory)
    assert created.resolution == "exchange"
    assert created.items[0].exchange_variant_id == "merino-tee-l"
    assert created.method == "qr_dropoff"
    qr = page.get_by_role("img", name=f"QR code for return {created.rma}")
    assert qr.is_visible()
    assert walk.off_host() == []
    walk.close()


def test_accessibility_tree_of_the_return_steps(server: tuple[str, Any, int], browser: Any) -> None:
    base, factory, store_id = server
    order = returnable_order(factory, store_id, 30, line_items=[_tee("M", 30), _cap(30)])
    page = browser.new_page()
    page.goto(f"{base}/r/new/{order.token}?lang=en")
    tree = page.locator("body").aria_snapshot()
    for expected in ("- banner", "- main", "- contentinfo", '- heading "Start a return" [level=1]',
                     '- list "Return steps"', '- navigation "Language"', '- checkbox "Return this item (Merino Tee)"',
                     '- combobox "Reason (Merino Tee)"', '- button "Continue"'):  # fmt: skip
        assert expected in tree, tree
    unnamed = page.eval_on_selector_all(
        "a, button, input, select, textarea",
        "els => els.filter(e => !(e.innerText || e.labels?.[0]?.innerText || e.getAttribute('aria-label') || e.type === 'hidden')).length",
    )
    assert unnamed == 0
    page.close()


def test_lookup_and_problem_report_pages(server: tuple[str, Any, int], browser: Any) -> None:
    base, factory, store_id = server
    order = returnable_order(factory, store_id, 40, days_ago=3, line_items=[_tee("M", 40)])
    for size in SIZES:
        walk = Walk(browser, base, "pages", size)
        walk.page.goto(f"{base}/returns/acme?lang=en")
        assert walk.page.get_by_role("heading", level=1).inner_text() == "Start a return"
        walk.shot("lookup")
        walk.page.goto(f"{base}/t/{order.token}/problem/1?lang=en")
        assert walk.page.get_by_role("heading", level=1).inner_text() == "Report a problem"
        walk.shot("problem")
        walk.page.goto(f"{base}/r/new/{order.token}?lang=es")
        assert walk.page.get_by_role("heading", level=1).inner_text() == "Iniciar una devolución"
        walk.shot("items-es")
        assert walk.off_host() == []
        walk.close()
