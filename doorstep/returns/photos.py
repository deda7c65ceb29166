"""Evidence photos from shoppers (returns and claims): what a file really is, and keeping it.

The file name and the browser's Content-Type are the sender's claims and decide nothing: only the
leading bytes (the format's signature) and the header's own width and height do. Only formats every
browser shows are kept (JPEG, PNG, WebP); a photo over the byte or pixel limit is refused with a
message that says the limit, and nothing is stored. :func:`save_photo` is the only writer of
``evidence_photos``; the same photo sent twice for one order is kept once.
"""

import hashlib
import struct
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from doorstep.core import clock, ids, tenancy
from doorstep.core.errors import Invalid, NotFound
from doorstep.returns.models import EvidencePhoto

KINDS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WebP"}
MAX_PIXELS = 50_000_000  # a 50-megapixel photo; larger headers are decompression bombs, not phone photos


@dataclass(frozen=True)
class Photo:
    content_type: str
    data: bytes
    width: int
    height: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def sniff(data: bytes) -> str | None:
    """The image type the bytes say they are, or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def dimensions(data: bytes, content_type: str) -> tuple[int, int] | None:
    """Width and height from the image's own header (no decoding), or None when the header is broken."""
    try:
        if content_type == "image/png":
            if data[12:16] != b"IHDR":
                return None
            width, height = struct.unpack(">II", data[16:24])
            return int(width), int(height)
        if content_type == "image/webp":
            return _webp_size(data)
        if content_type == "image/jpeg":
            return _jpeg_size(data)
    except (struct.error, IndexError):
        return None
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return int(width) & 0x3FFF, int(height) & 0x3FFF
    if chunk == b"VP8L" and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Walks the JPEG segments to the first start-of-frame marker, which holds the size."""
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            at += 2
            continue
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        if marker in _SOF:
            height, width = struct.unpack(">HH", data[at + 5 : at + 9])
            return int(width), int(height)
        at += 2 + int(length)
    return None


def check_photo(field: str, filename: str, data: bytes, *, max_bytes: int) -> Photo:
    """The photo, if its bytes are a JPEG, PNG or WebP image within the limits; else Invalid naming ``field``."""
    name = filename or "the file"
    if not data:
        raise Invalid.field(field, f"{name} is empty", "choose a photo file (JPEG, PNG or WebP)")
    if len(data) > max_bytes:
        limit = max_bytes / 1_000_000
        raise Invalid.field(
            field,
            f"{name} is {len(data) / 1_000_000:.1f} MB, over the {limit:g} MB limit",
            f"send a smaller photo (at most {limit:g} MB)",
        )
    kind = sniff(data)
    if kind is None:
        raise Invalid.field(
            field, f"{name} is not a JPEG, PNG or WebP image", "choose a photo (JPEG, PNG or WebP)"
        )
    size = dimensions(data, kind)
    if size is None or size[0] < 1 or size[1] < 1:
        raise Invalid.field(field, f"{name} is a damaged {KINDS[kind]} file", "choose another photo")
    if size[0] * size[1] > MAX_PIXELS:
        raise Invalid.field(
            field, f"{name} is {size[0]} x {size[1]} pixels, too large to keep", "send a smaller photo"
        )
    return Photo(kind, data, size[0], size[1])


def save_photo(session: Session, *, store_id: int, order_id: int, photo: Photo) -> str:
    """Keeps a checked photo for an order; returns its public id (the same id for the same bytes)."""
    digest = photo.sha256
    existing = session.scalars(
        tenancy.scoped(select(EvidencePhoto), EvidencePhoto, store_id).where(
            EvidencePhoto.order_id == order_id, EvidencePhoto.sha256 == digest
        )
    ).first()
    if existing is not None:
        return existing.public_id
    row = EvidencePhoto(
        public_id=ids.new_id("pho"), store_id=store_id, order_id=order_id, content_type=photo.content_type,
        size_bytes=len(photo.data), width=photo.width, height=photo.height, sha256=digest, data=photo.data,
        created_at=clock.now(),
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row.public_id


def get_photo(session: Session, *, store_id: int, order_id: int, photo_id: str) -> EvidencePhoto:
    """One of an order's photos; NotFound for any other store's or order's."""
    row = session.scalars(
        tenancy.scoped(select(EvidencePhoto), EvidencePhoto, store_id).where(
            EvidencePhoto.order_id == order_id, EvidencePhoto.public_id == photo_id
        )
    ).first()
    if row is None:
        raise NotFound(f"photo {photo_id!r} not found")
    return row


def order_photo_ids(session: Session, *, store_id: int, order_id: int, photo_ids: list[str]) -> set[str]:
    """Which of ``photo_ids`` belong to this order (a form may only cite its own uploads)."""
    if not photo_ids:
        return set()
    return set(
        session.scalars(
            tenancy.scoped(select(EvidencePhoto.public_id), EvidencePhoto, store_id).where(
                EvidencePhoto.order_id == order_id, EvidencePhoto.public_id.in_(photo_ids)
            )
        )
    )
