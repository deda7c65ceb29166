"""Public ids (prefixed, unguessable) and shopper-facing tokens (>= 128 bits of randomness)."""

import secrets

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


def new_token() -> str:
    """A shopper-facing link token: 192 random bits, URL-safe."""
    return secrets.token_urlsafe(_TOKEN_BYTES)


def has_prefix(value: str, prefix: str) -> bool:
    return value.startswith(prefix + "_") and len(value) > len(prefix) + 1
