"""Encryption at rest for per-store provider credentials (Fernet, key derived from the server secret)."""

import base64
import hashlib
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken


def _fernet(secret: str) -> Fernet:
    # A fixed context label keeps this key separate from any other use of the server secret.
    digest = hashlib.sha256(b"doorstep/store-connections/v1\x00" + secret.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def seal(data: dict[str, Any], secret: str) -> str:
    return _fernet(secret).encrypt(json.dumps(data, sort_keys=True).encode()).decode()


def unseal(token: str, secret: str) -> dict[str, Any]:
    try:
        value = json.loads(_fernet(secret).decrypt(token.encode()))
    except InvalidToken as exc:
        raise ValueError("stored credentials cannot be decrypted with the current server secret") from exc
    if not isinstance(value, dict):
        raise ValueError("stored credentials are not an object")
    return value
