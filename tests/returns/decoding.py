"""Read labels back as a scanner would: the PDF rasterised by poppler's ``pdftoppm``, codes read by zxing-cpp.

Without poppler (``apt-get install poppler-utils``) the label tests skip locally and fail under CI=true.
"""

import io
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

PDFTOPPM = shutil.which("pdftoppm")


def require_poppler() -> str:
    if PDFTOPPM is None:
        if os.environ.get("CI") == "true":
            raise RuntimeError("CI needs poppler's pdftoppm: .ci/run installs Debian's poppler-utils")
        pytest.skip("poppler's pdftoppm is not installed (apt-get install poppler-utils)")
    return PDFTOPPM


def rasterise(pdf: bytes, *, dpi: int = 203, keep: Path | None = None) -> Image.Image:
    """The label's first page as an image, at a thermal printer's 203 dpi unless told otherwise."""
    tool = require_poppler()
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "label.pdf"
        source.write_bytes(pdf)
        subprocess.run(
            [tool, "-png", "-r", str(dpi), "-singlefile", str(source), str(Path(tmp) / "page")], check=True
        )
        png = (Path(tmp) / "page.png").read_bytes()
    if keep is not None:
        keep.parent.mkdir(parents=True, exist_ok=True)
        keep.write_bytes(png)
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def decode(image: Image.Image) -> dict[str, str]:
    """Format name → text for every code found (``Code128``, ``QRCode``)."""
    return {result.format.name: result.text for result in zxingcpp.read_barcodes(image)}


def decode_pdf(pdf: bytes, *, dpi: int = 203, keep: Path | None = None) -> dict[str, str]:
    return decode(rasterise(pdf, dpi=dpi, keep=keep))


def decode_png(png: bytes) -> dict[str, str]:
    return decode(Image.open(io.BytesIO(png)))
