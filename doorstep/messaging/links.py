"""Signed, unguessable engagement links: open pixel, click redirect, unsubscribe.

A link names a message by its public id (96 random bits) and carries an HMAC-SHA256 of what it does,
keyed by the server secret under a fixed label, so nobody can forge a click on someone else's message,
point a redirect elsewhere (an open redirect) or unsubscribe a shopper they only know the e-mail of.
Signatures are compared in constant time. Pure: no I/O.
"""

import base64
import hashlib
import hmac
from urllib.parse import quote

from doorstep.core.hashing import constant_time_equal

_LABEL = b"doorstep/messaging/links/v1\x00"


def sign(secret: str, *parts: str) -> str:
    """A URL-safe signature of ``parts`` (128 bits of HMAC-SHA256, enough to make guessing hopeless)."""
    key = hashlib.sha256(_LABEL + secret.encode()).digest()
    mac = hmac.new(key, "\x1f".join(parts).encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def verify(secret: str, signature: str, *parts: str) -> bool:
    return constant_time_equal(sign(secret, *parts), signature)


def open_pixel(base_url: str, secret: str, message_id: str) -> str:
    return f"{base_url.rstrip('/')}/e/o/{message_id}/{sign(secret, 'open', message_id)}.gif"


def click(base_url: str, secret: str, message_id: str, target: str) -> str:
    """A redirect to ``target`` that counts the click first; the signature covers the target."""
    signature = sign(secret, "click", message_id, target)
    return f"{base_url.rstrip('/')}/e/c/{message_id}/{signature}?u={quote(target, safe='')}"


def unsubscribe(base_url: str, secret: str, message_id: str) -> str:
    """The unsubscribe page (GET) and its RFC 8058 one-click target (POST)."""
    return f"{base_url.rstrip('/')}/u/{message_id}/{sign(secret, 'unsubscribe', message_id)}"
