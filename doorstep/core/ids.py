"""Public ids (prefixed, unguessable) and shopper-facing tokens (>= 128 bits of randomness)."""

import base64
import secrets
from collections.abc import Iterator

# Ids carry 96 random bits (hex); shopper tokens 192 bits (URL-safe base64).
_ID_BYTES = 12
_TOKEN_BYTES = 24

PREFIXES = frozenset(
    {"sto", "key", "cus", "ord", "li", "shp", "cp", "evt", "ms", "job", "msg", "rf"}
    | {"tpl", "obx", "whe", "whd"}  # message templates, outbox, webhook endpoints and deliveries
    | {"ret", "rrf", "sc", "clm"}  # returns: return, return refund, store credit, claim
    | {"pho"},  # evidence photos uploaded in the portal (returns-portal)
)


def new_id(prefix: str) -> str:
    """A prefixed public id such as ``ord_3k9fQ...``: random, so ids leak no counts."""
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}")
    return f"{prefix}_{secrets.token_hex(_ID_BYTES)}"


def id_stream(prefix: str, chunk: int = 4096) -> Iterator[str]:
    """Endless ids exactly like :func:`new_id`'s, drawn from the OS ``chunk`` at a time (bulk writers:
    one ``urandom`` call per few thousand ids instead of one per id)."""
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}")
    width = 2 * _ID_BYTES
    while True:
        hexed = secrets.token_hex(_ID_BYTES * chunk)
        for start in range(0, len(hexed), width):
            yield f"{prefix}_{hexed[start : start + width]}"


def token_stream(chunk: int = 4096) -> Iterator[str]:
    """Endless tokens exactly like :func:`new_token`'s, drawn from the OS ``chunk`` at a time."""
    # 24 bytes are 32 base64 characters with no padding, so slicing one long encoding at every 32nd
    # character gives the same tokens as encoding each 24 random bytes on its own.
    width = _TOKEN_BYTES * 4 // 3
    while True:
        encoded = base64.urlsafe_b64encode(secrets.token_bytes(_TOKEN_BYTES * chunk)).decode()
        for start in range(0, len(encoded), width):
            yield encoded[start : start + width]


def new_token() -> str:
    """A shopper-facing link token: 192 random bits, URL-safe."""
    return secrets.token_urlsafe(_TOKEN_BYTES)


def has_prefix(value: str, prefix: str) -> bool:
    return value.startswith(prefix + "_") and len(value) > len(prefix) + 1
