"""Evidence photos: the bytes decide what a file is, never its name or declared type; limits say the limit."""

import io
import struct

import pytest
from PIL import Image

from doorstep.core.errors import Invalid
from doorstep.returns.photos import MAX_PIXELS, check_photo, dimensions, sniff


def image(kind: str, size: tuple[int, int] = (120, 80)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "teal").save(buffer, kind)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("kind", "content_type"), [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")]
)
def test_real_images_are_recognised_with_their_size(kind: str, content_type: str) -> None:
    data = image(kind)
    assert sniff(data) == content_type
    assert dimensions(data, content_type) == (120, 80)
    photo = check_photo("photos.0", "anything.txt", data, max_bytes=1_000_000)
    assert (photo.content_type, photo.width, photo.height) == (content_type, 120, 80)


def test_lossless_webp_size_is_read_too() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (33, 17), "navy").save(buffer, "WEBP", lossless=True)
    assert dimensions(buffer.getvalue(), "image/webp") == (33, 17)


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.7 pretending",
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        b"GIF89a" + b"\0" * 20,
        b"MZ\x90\0",
    ],
    ids=["pdf", "svg", "gif", "exe"],
)
def test_other_files_named_like_photos_are_refused(data: bytes) -> None:
    with pytest.raises(Invalid) as raised:
        check_photo("photos.0", "holiday.jpg", data, max_bytes=1_000_000)
    assert raised.value.problems[0].field == "photos.0"
    assert "is not a JPEG, PNG or WebP image" in raised.value.problems[0].message


def test_too_large_and_empty_files_say_the_limit() -> None:
    with pytest.raises(Invalid) as raised:
        check_photo("photos.1", "big.png", image("PNG") + b"\0" * 3_000_000, max_bytes=2_000_000)
    assert "over the 2 MB limit" in raised.value.problems[0].message
    with pytest.raises(Invalid):
        check_photo("photos.1", "empty.png", b"", max_bytes=2_000_000)


def test_a_header_claiming_a_huge_image_is_refused_before_decoding() -> None:
    side = int(MAX_PIXELS**0.5) + 10
    png = (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", 13)
        + b"IHDR"
        + struct.pack(">II", side, side)
        + b"\x08\x02\0\0\0"
    )
    with pytest.raises(Invalid) as raised:
        check_photo("photos.0", "bomb.png", png, max_bytes=1_000_000)
    assert "too large to keep" in raised.value.problems[0].message


def test_a_truncated_jpeg_is_refused_as_damaged() -> None:
    with pytest.raises(Invalid) as raised:
        check_photo("photos.0", "cut.jpg", image("JPEG")[:40], max_bytes=1_000_000)
    assert "damaged JPEG" in raised.value.problems[0].message
