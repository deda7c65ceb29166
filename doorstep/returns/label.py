"""Return labels: a 4x6 inch PDF with a vector Code128 barcode and a QR code, and a standalone QR code.

Pure rendering, no I/O: facts in, bytes out. Both codes encode the return's public id, so a carrier's
scanner, a drop-off point's QR reader and a warehouse's handheld all lead back to the same return.

The barcode is drawn as vector bars (reportlab's Code128), never a bitmap: raster barcodes printed on
thermal printers lost their edges and did not scan. The QR code is drawn as vector squares from segno's
matrix, with a four-module quiet zone and error correction level M (survives a crease or a smudge).

Text uses the PDF core font Helvetica (no font files to ship); characters outside Latin-1 are replaced
by ``?`` rather than dropped, so an address never silently loses a line.
"""

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import segno
from reportlab.graphics.barcode.code128 import Code128
from reportlab.lib.units import inch
from reportlab.pdfgen.canvas import Canvas

WIDTH, HEIGHT = 4 * inch, 6 * inch  # points: 288 x 432
MARGIN = 0.18 * inch
QR_ERROR = "m"


@dataclass(frozen=True)
class LabelFacts:
    """What a label shows. Addresses are lines as they should be printed, top to bottom."""

    return_id: str
    store_name: str
    return_address: tuple[str, ...]
    shopper_address: tuple[str, ...]
    order_number: str
    item_count: int
    carrier: str | None = None  # shown when the merchant's return carrier is known
    return_code: str | None = None  # the short code (RMA) people read aloud at a counter


def address_lines(address: Mapping[str, Any] | None) -> tuple[str, ...]:
    """Postal lines from Doorstep's address shape (name, company, line1, line2, city, region, postal_code, country)."""
    if not address:
        return ()
    city_line = " ".join(
        part
        for part in (
            str(address.get("city") or "") + ("," if address.get("city") and address.get("region") else ""),
            str(address.get("region") or ""),
            str(address.get("postal_code") or ""),
        )
        if part
    )
    lines = [
        address.get("name"),
        address.get("company"),
        address.get("line1"),
        address.get("line2"),
        city_line,
        str(address.get("country") or "").upper(),
    ]
    return tuple(str(line).strip() for line in lines if line and str(line).strip())


def _latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


def _fit(canvas: Canvas, text: str, font: str, size: float, width: float) -> float:
    """The largest font size ≤ ``size`` at which ``text`` fits in ``width`` (never below 6 pt)."""
    while size > 6 and canvas.stringWidth(text, font, size) > width:
        size -= 0.5
    return size


def _text_block(
    canvas: Canvas, lines: Sequence[str], *, x: float, top: float, width: float, font: str, size: float
) -> float:
    """Draws ``lines`` downward from ``top``; returns the y below the last line."""
    y = top
    for raw in lines:
        line = _latin1(raw)
        fitted = _fit(canvas, line, font, size, width)
        y -= fitted * 1.25
        canvas.setFont(font, fitted)
        canvas.drawString(x, y, line)
    return y


def _qr(canvas: Canvas, data: str, *, x: float, y: float, size: float) -> None:
    """A QR code as vector squares: one rectangle per run of dark modules in a row."""
    code = segno.make_qr(data, error=QR_ERROR, boost_error=False)
    matrix = [list(row) for row in code.matrix]
    quiet = 4
    modules = len(matrix) + 2 * quiet
    module = size / modules
    canvas.setFillColorRGB(1, 1, 1)
    canvas.rect(x, y, size, size, stroke=0, fill=1)
    canvas.setFillColorRGB(0, 0, 0)
    for r, row in enumerate(matrix):
        c = 0
        while c < len(row):
            if row[c]:
                start = c
                while c < len(row) and row[c]:
                    c += 1
                top = y + size - (quiet + r) * module
                canvas.rect(
                    x + (quiet + start) * module, top - module, (c - start) * module, module, stroke=0, fill=1
                )
            else:
                c += 1


def _barcode(canvas: Canvas, data: str, *, x: float, y: float, width: float, height: float) -> None:
    """A Code128 barcode scaled to ``width`` (quiet zones included), bars as vector rectangles."""
    probe = Code128(data, barWidth=1.0, barHeight=height, quiet=1, lquiet=10, rquiet=10)
    bar_width = width / probe.width
    code = Code128(
        data, barWidth=bar_width, barHeight=height, quiet=1, lquiet=10 * bar_width, rquiet=10 * bar_width
    )
    code.drawOn(canvas, x, y)


def render_label(facts: LabelFacts) -> bytes:
    """The 4x6 inch return label as a one-page PDF."""
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=(WIDTH, HEIGHT), pageCompression=1, invariant=True)
    canvas.setTitle(f"Return label {facts.return_id}")
    canvas.setAuthor(_latin1(facts.store_name))
    canvas.setSubject(f"Order {facts.order_number}")
    inner = WIDTH - 2 * MARGIN
    top = HEIGHT - MARGIN

    # Header band: what this is, for whom.
    canvas.setFillColorRGB(0, 0, 0)
    canvas.rect(MARGIN, top - 30, inner, 30, stroke=0, fill=1)
    canvas.setFillColorRGB(1, 1, 1)
    canvas.setFont("Helvetica-Bold", 18)
    canvas.drawString(MARGIN + 8, top - 22, "RETURN")
    store = _latin1(facts.store_name)
    size = _fit(canvas, store, "Helvetica-Bold", 11, inner - 100)
    canvas.setFont("Helvetica-Bold", size)
    canvas.drawRightString(WIDTH - MARGIN - 8, top - 20, store)
    canvas.setFillColorRGB(0, 0, 0)

    # From (the shopper), small; To (the store's return address), large.
    y = top - 44
    canvas.setFont("Helvetica-Bold", 7)
    canvas.drawString(MARGIN, y, "FROM")
    y = _text_block(canvas, facts.shopper_address, x=MARGIN, top=y - 1, width=inner, font="Helvetica", size=8)
    y -= 8
    canvas.setLineWidth(1.5)
    canvas.line(MARGIN, y, WIDTH - MARGIN, y)
    y -= 14
    canvas.setFont("Helvetica-Bold", 9)
    canvas.drawString(MARGIN, y, "SHIP TO")
    y = _text_block(
        canvas,
        facts.return_address,
        x=MARGIN + 12,
        top=y - 2,
        width=inner - 12,
        font="Helvetica-Bold",
        size=13,
    )
    y -= 10
    canvas.line(MARGIN, y, WIDTH - MARGIN, y)

    # The barcode across the full width, its human-readable id beneath.
    bar_height = 0.9 * inch
    y -= 10 + bar_height
    _barcode(canvas, facts.return_id, x=MARGIN, y=y, width=inner, height=bar_height)
    y -= 12
    canvas.setFont("Courier-Bold", _fit(canvas, facts.return_id, "Courier-Bold", 11, inner))
    canvas.drawCentredString(WIDTH / 2, y, facts.return_id)
    y -= 10
    canvas.line(MARGIN, y, WIDTH - MARGIN, y)

    # Bottom: the QR code for printerless drop-off, and what is inside.
    qr_size = min(y - MARGIN - 4, 1.55 * inch)
    _qr(canvas, facts.return_id, x=WIDTH - MARGIN - qr_size, y=MARGIN, size=qr_size)
    details = [
        *([f"Return {facts.return_code}"] if facts.return_code else []),
        f"Order {facts.order_number}",
        f"{facts.item_count} item{'s' if facts.item_count != 1 else ''}",
        *([f"Carrier: {facts.carrier}"] if facts.carrier else []),
        "Drop-off points can scan",
        "the QR code instead.",
    ]
    _text_block(canvas, details, x=MARGIN, top=y - 8, width=inner - qr_size - 8, font="Helvetica", size=9)

    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def qr_png(data: str, *, scale: int = 8) -> bytes:
    """A standalone QR code (PNG) for printerless drop-off: the shopper shows it on their phone."""
    buffer = io.BytesIO()
    segno.make_qr(data, error=QR_ERROR, boost_error=False).save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


def qr_svg(data: str, *, scale: int = 8, title: str | None = None) -> bytes:
    """The same QR code as SVG (crisp at any size, a few kilobytes)."""
    buffer = io.BytesIO()
    segno.make_qr(data, error=QR_ERROR, boost_error=False).save(
        buffer, kind="svg", scale=scale, border=4, xmldecl=False, title=title, svgclass=None, lineclass=None
    )
    return buffer.getvalue()
