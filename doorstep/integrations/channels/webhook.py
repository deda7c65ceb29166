"""Generic outbound webhooks, signed with Standard Webhooks (https://www.standardwebhooks.com/).

Each POST carries ``webhook-id`` (the delivery's id, the same on every retry so receivers deduplicate),
``webhook-timestamp`` (Unix seconds) and ``webhook-signature`` (``v1,<base64 HMAC-SHA256>`` of
``id.timestamp.body`` with the endpoint's ``whsec_`` secret), made with the ``standardwebhooks`` package,
so any Standard Webhooks verifier accepts them. The body is ``{"type", "timestamp", "data"}``.

Outcomes: 2xx delivered; 408, 425, 429 and 5xx, timeouts and connection errors are retryable (the job
queue backs off); 410 Gone means the receiver asked us to stop (not retryable; the endpoint is disabled);
any other 4xx is not retryable. Endpoints and secrets live in ``webhook_endpoints``; this module only
signs and sends.
"""

import base64
import json
import secrets
from dataclasses import dataclass
from datetime import datetime

import httpx
from standardwebhooks.webhooks import Webhook

from doorstep.core import clock
from doorstep.integrations.channels.protocol import Published, SendFailed

name = "webhook"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
USER_AGENT = "Doorstep-Webhooks/1"


def new_secret() -> str:
    """A fresh signing secret in Standard Webhooks' format: ``whsec_`` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def body_of(event: Published) -> bytes:
    """The JSON body: the milestone's name as ``type``, when it happened, and its data."""
    document = {
        "type": event.name,
        "timestamp": event.occurred_at.isoformat().replace("+00:00", "Z"),
        "data": {
            "id": event.event_id,
            "milestone": event.name,
            "customer": {
                "id": event.profile.external_id,
                "email": event.profile.email,
                "phone": event.profile.phone,
                "first_name": event.profile.first_name,
            },
            **event.properties,
        },
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def sign(secret: str, *, msg_id: str, timestamp: datetime, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for one delivery."""
    signature = Webhook(secret).sign(msg_id=msg_id, timestamp=timestamp, data=body.decode())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
    }


@dataclass(frozen=True)
class Delivered:
    status_code: int


class Refused(SendFailed):
    """The receiver answered with a non-2xx status."""

    def __init__(self, reason: str, *, retryable: bool, status_code: int) -> None:
        super().__init__(reason, retryable=retryable)
        self.status_code = status_code


class Gone(Refused):
    """The receiver answered 410 Gone: it wants no more deliveries."""


def deliver(client: httpx.Client, *, url: str, secret: str, msg_id: str, body: bytes) -> Delivered:
    """POST one signed delivery. Raises :class:`SendFailed` (``retryable`` as above) or :class:`Gone`."""
    headers = {
        **sign(secret, msg_id=msg_id, timestamp=clock.now(), body=body),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }
    try:
        response = client.post(url, content=body, headers=headers, timeout=TIMEOUT, follow_redirects=False)
    except httpx.TimeoutException as exc:
        raise SendFailed(f"timed out: {type(exc).__name__}", retryable=True) from exc
    except httpx.TransportError as exc:
        raise SendFailed(f"could not connect: {type(exc).__name__}: {exc}", retryable=True) from exc
    if 200 <= response.status_code < 300:
        return Delivered(response.status_code)
    excerpt = response.text[:200].replace("\n", " ")
    reason = f"HTTP {response.status_code}: {excerpt}" if excerpt else f"HTTP {response.status_code}"
    if response.status_code == 410:
        raise Gone(reason, retryable=False, status_code=410)
    raise Refused(
        reason, retryable=response.status_code in RETRYABLE_STATUS, status_code=response.status_code
    )
