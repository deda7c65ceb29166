"""The return label: a 4x6 inch PDF whose Code128 barcode and QR code decode back to the return's id."""

import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from doorstep.returns.label import LabelFacts, address_lines, qr_png, qr_svg, render_label
from tests.returns.decoding import decode_pdf, decode_png, require_poppler

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots" / "returns"
RETURN_ID = "ret_3f9a0c21b7d44e6a8c0b1d2e"
WAREHOUSE = {"name": "Juniper & Pine Returns", "line1": "200 Warehouse Way", "line2": "Dock 4",
             "city": "Reno", "region": "NV", "postal_code": "89502", "country": "us"}  # fmt: skip
SHOPPER = {"name": "Ana Souza", "line1": "1 Main St", "city": "Austin", "region": "TX",
           "postal_code": "78704", "country": "us"}  # fmt: skip


def _facts(**overrides: object) -> LabelFacts:
    fields: dict[str, object] = {
        "return_id": RETURN_ID, "store_name": "Juniper & Pine", "return_address": address_lines(WAREHOUSE),
        "shopper_address": address_lines(SHOPPER), "order_number": "#1001", "item_count": 2, "carrier": "UPS",
        "return_code": "RQ7M2K9XPL",
    }  # fmt: skip
    fields.update(overrides)
    return LabelFacts(**fields)  # type: ignore[arg-type]


def _text(pdf: bytes, tmp_path: Path) -> str:
    require_poppler()
    source = tmp_path / "label.pdf"
    source.write_bytes(pdf)
    return subprocess.run(
        ["pdftotext", "-layout", str(source), "-"], check=True, capture_output=True, text=True
    ).stdout


@pytest.mark.parametrize("dpi", [203, 300])
def test_both_codes_decode_to_the_return_id_at_thermal_and_office_printer_resolutions(dpi: int) -> None:
    pdf = render_label(_facts())
    decoded = decode_pdf(pdf, dpi=dpi, keep=ARTIFACTS / f"label-{dpi}dpi.png")
    assert decoded == {"Code128": RETURN_ID, "QRCode": RETURN_ID}


def test_the_page_is_4_by_6_inches_and_the_barcode_is_vector() -> None:
    pdf = render_label(_facts())
    assert pdf.startswith(b"%PDF-")
    assert re.search(rb"/MediaBox \[\s*0 0 288 432\s*\]", pdf)
    assert b"/Subtype /Image" not in pdf  # no bitmap anywhere: bars and modules are vector rectangles


def test_the_label_prints_both_addresses_and_the_order(tmp_path: Path) -> None:
    text = _text(render_label(_facts()), tmp_path)
    for expected in ("RETURN", "Juniper & Pine Returns", "200 Warehouse Way", "Reno, NV 89502", "Ana Souza",
                     "Austin, TX 78704", "Return RQ7M2K9XPL", "Order #1001", "2 items", "Carrier: UPS", RETURN_ID):  # fmt: skip
        assert expected in text, text


def test_long_lines_shrink_and_unprintable_characters_are_replaced_not_dropped(tmp_path: Path) -> None:
    shopper = {
        **SHOPPER,
        "name": "Zoë Ñúñez 王小明",
        "line1": "Apartment 1204, The Very Long Residential Tower Name Building",
    }
    pdf = render_label(_facts(shopper_address=address_lines(shopper), item_count=1, carrier=None))
    text = _text(pdf, tmp_path)
    assert "Zoë Ñúñez ???" in text
    assert "The Very Long Residential Tower Name Building" in text
    assert "1 item\n" in text or "1 item " in text
    assert "Carrier" not in text
    assert decode_pdf(pdf) == {"Code128": RETURN_ID, "QRCode": RETURN_ID}


def test_the_standalone_qr_code_decodes_as_png_and_is_valid_svg() -> None:
    png = qr_png(RETURN_ID)
    assert png.startswith(b"\x89PNG")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "qr.png").write_bytes(png)
    assert decode_png(png) == {"QRCode": RETURN_ID}
    svg = ET.fromstring(qr_svg(RETURN_ID, title="Return QR code"))
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert svg.find("{http://www.w3.org/2000/svg}path") is not None


def test_address_lines_follow_postal_order_and_skip_empty_parts() -> None:
    assert address_lines(WAREHOUSE) == (
        "Juniper & Pine Returns", "200 Warehouse Way", "Dock 4", "Reno, NV 89502", "US",
    )  # fmt: skip
    assert address_lines({"name": "Kim", "city": "Berlin", "postal_code": "10115", "country": "de"}) == (
        "Kim", "Berlin 10115", "DE",
    )  # fmt: skip
    assert address_lines(None) == ()
