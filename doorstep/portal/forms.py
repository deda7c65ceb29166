"""What the shopper's multi-step forms share: CSRF tokens, sealed drafts, and bounded form parsing.

**CSRF** (double submit, bound to the page): a random ``ds_csrf`` cookie (HttpOnly, SameSite=Strict)
and, in every form, ``HMAC(secret, scope + cookie)``. A POST is accepted only when both are present and
agree, so another site can neither read nor forge the token even if it learnt a shopper's link.

**Drafts**: the answers of the steps so far travel between steps as one sealed value (zlib-compressed
JSON, encrypted and authenticated with a key derived from the server secret, valid for a day). Nothing
is stored until the shopper confirms, and a draft changed by hand (a price, another order's item) fails
to open: the page says so and nothing changes.
"""

import base64
import hashlib
import hmac
import json
import secrets
import zlib
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from fastapi import Request
from fastapi.responses import Response
from starlette.datastructures import FormData

CSRF_COOKIE = "ds_csrf"
DRAFT_TTL = 24 * 3600  # seconds a half-finished return stays resumable
MAX_DRAFT_CHARS = 12_000  # a sealed draft larger than this was not made by us


def _key(secret: str, label: bytes) -> bytes:
    return hashlib.sha256(label + b"\x00" + secret.encode()).digest()


def csrf_cookie(request: Request) -> tuple[str, bool]:
    """The browser's CSRF cookie value, and whether it is new (then the response must set it)."""
    value = request.cookies.get(CSRF_COOKIE, "")
    if 20 <= len(value) <= 64 and value.replace("-", "").replace("_", "").isalnum():
        return value, False
    return secrets.token_urlsafe(24), True


def csrf_token(secret: str, cookie: str, scope: str) -> str:
    mac = hmac.new(_key(secret, b"doorstep/portal/csrf/v1"), f"{scope}\x00{cookie}".encode(), "sha256")
    return mac.hexdigest()


def check_csrf(request: Request, form: FormData, secret: str, scope: str) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE)
    sent = form.get("csrf")
    if not cookie or not isinstance(sent, str):
        return False
    return hmac.compare_digest(csrf_token(secret, cookie, scope), sent)


def set_csrf_cookie(response: Response, request: Request, value: str) -> None:
    response.set_cookie(
        CSRF_COOKIE, value, httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/"
    )


def _fernet(secret: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(_key(secret, b"doorstep/portal/draft/v1")))


def seal(state: dict[str, Any], secret: str) -> str:
    packed = zlib.compress(json.dumps(state, separators=(",", ":"), sort_keys=True).encode(), 9)
    return _fernet(secret).encrypt(packed).decode()


def unseal(token: str | None, secret: str) -> dict[str, Any] | None:
    """The draft, or None when it is missing, expired, or was not sealed by this server as it is."""
    if not token or len(token) > MAX_DRAFT_CHARS:
        return None
    try:
        packed = _fernet(secret).decrypt(token.encode(), ttl=DRAFT_TTL)
        value = json.loads(zlib.decompress(packed, bufsize=64 * 1024))
    except (InvalidToken, zlib.error, ValueError):
        return None
    return value if isinstance(value, dict) else None


def text(form: FormData, name: str, *, limit: int) -> str:
    """A text field, stripped and cut to ``limit`` characters (a missing or file field is empty)."""
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""
