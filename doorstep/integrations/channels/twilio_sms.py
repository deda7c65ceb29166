"""Twilio SMS (and any Twilio-compatible API): the Messages resource, plus its delivery-status callbacks.

Send: ``POST {api_base}/2010-04-01/Accounts/{AccountSid}/Messages.json``, form-encoded ``To``, ``From`` (or
``MessagingServiceSid``), ``Body`` and ``StatusCallback``, HTTP basic auth with the Account SID and Auth
Token (https://www.twilio.com/docs/messaging/api/message-resource). ``201`` answers the message resource;
its ``sid`` (``SM…``) is what status callbacks name. Errors answer ``{"code", "message", "status"}``: a 400
for an invalid or unreachable number (21211, 21614, 21610 "replied STOP", 21408 region not enabled…) or a
401/403 for credentials is final; 429 (20429) and 5xx are retryable. The Messages API has no idempotency
key, so a send whose answer was lost is sent again by the retry: at most one duplicate SMS, on a crash.

Callbacks: Twilio POSTs ``MessageSid``, ``MessageStatus`` (queued, sending, sent, delivered, undelivered,
failed; WhatsApp also read) and ``ErrorCode`` to the ``StatusCallback`` URL, signed in ``X-Twilio-Signature``:
base64 of HMAC-SHA1, keyed by the Auth Token, over the full URL followed by every POST parameter's name
and value, sorted by name (https://www.twilio.com/docs/usage/security#validating-requests). Doorstep
builds that URL from ``DOORSTEP_BASE_URL`` and verifies against the same string, in constant time.
"""

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from doorstep.core.hashing import constant_time_equal
from doorstep.integrations.channels.protocol import Kind, Outbound, SendFailed, Sent

TIMEOUT = httpx.Timeout(15.0, connect=5.0)
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
# Twilio error codes that mean this address will never take the message (the rest of 4xx: also final).
UNREACHABLE_CODES = frozenset({21211, 21214, 21408, 21610, 21612, 21614, 63003, 63016, 63024})
# MessageStatus → the outcome messaging records; interim states (queued, sending, sent, accepted) are kept
# in the inbound log only.
FINAL_STATUSES = {
    "delivered": "delivered",
    "read": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
}
IGNORED_STATUSES = frozenset(
    {"accepted", "scheduled", "queued", "sending", "sent", "receiving", "received", "canceled"}
)


def _https_or_loopback(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme == "https" or (
        parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")
    ):
        return value.rstrip("/")
    raise ValueError("must be an https:// URL")


class Config(BaseModel):
    """A Twilio account (or subaccount) and what to send from."""

    model_config = ConfigDict(extra="forbid")

    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$", description="Account SID (AC…).")
    auth_token: SecretStr = Field(description="Auth Token: signs requests and status callbacks.")
    from_number: str | None = Field(None, pattern=r"^\+[1-9]\d{6,14}$", description="Sending number, E.164.")
    messaging_service_sid: str | None = Field(
        None, pattern=r"^MG[0-9a-fA-F]{32}$", description="Or a Messaging Service (MG…) to pick the sender."
    )
    api_base: str = Field(
        "https://api.twilio.com", description="Twilio's API origin (change only for tests)."
    )
    # Set by Doorstep's routing for each send, never by the merchant: where Twilio posts delivery receipts.
    status_callback_url: str | None = None

    @field_validator("api_base")
    @classmethod
    def _api_base(cls, value: str) -> str:
        return _https_or_loopback(value)

    @model_validator(mode="after")
    def _a_sender(self) -> "Config":
        if not (self.from_number or self.messaging_service_sid):
            raise ValueError("give from_number or messaging_service_sid")
        return self

    def sender_for(self, kind: Kind) -> str:
        return self.from_number or self.messaging_service_sid or ""


@dataclass(frozen=True)
class StatusUpdate:
    """One delivery receipt, as messaging records it."""

    provider_message_id: str
    status: str  # "delivered", "undelivered" or "failed"
    error: str | None


class Unsupported(ValueError):
    """A callback this module has no use for (an interim status is ignored, not unsupported)."""


def signature(url: str, params: Sequence[tuple[str, str]], auth_token: str) -> str:
    """Twilio's X-Twilio-Signature for a form POST to ``url`` with ``params``."""
    data = url + "".join(f"{name}{value}" for name, value in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def verify(url: str, body: bytes, headers: Mapping[str, str], auth_token: str) -> bool:
    """Whether a callback to ``url`` with this form body carries Twilio's signature (constant time)."""
    given = {k.lower(): v for k, v in headers.items()}.get("x-twilio-signature")
    if not given:
        return False
    try:
        params = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        return False
    return constant_time_equal(signature(url, params, auth_token), given)


def parse_status(body: bytes) -> StatusUpdate | None:
    """The receipt in a callback body; None for interim statuses (queued, sent…). Raises Unsupported."""
    params = dict(parse_qsl(body.decode(), keep_blank_values=True))
    sid = params.get("MessageSid") or params.get("SmsSid")
    raw = (params.get("MessageStatus") or params.get("SmsStatus") or "").lower()
    if not sid:
        raise Unsupported("no MessageSid in the callback")
    if raw in IGNORED_STATUSES:
        return None
    if raw not in FINAL_STATUSES:
        raise Unsupported(f"unknown MessageStatus {raw!r}")
    code = params.get("ErrorCode") or None
    error = (
        f"Twilio error {code}" + (f": {params['ErrorMessage']}" if params.get("ErrorMessage") else "")
        if code
        else None
    )
    return StatusUpdate(sid, FINAL_STATUSES[raw], error)


def _failure(response: httpx.Response) -> SendFailed:
    try:
        answer: dict[str, Any] = response.json()
    except ValueError:
        answer = {}
    code = answer.get("code")
    detail = str(answer.get("message") or response.text[:200])
    reason = f"Twilio answered {response.status_code}" + (f" (error {code})" if code else "") + f": {detail}"
    if isinstance(code, int) and code in UNREACHABLE_CODES:
        return SendFailed(reason, retryable=False)
    return SendFailed(reason, retryable=response.status_code in RETRYABLE_STATUS)


def post_message(client: httpx.Client, config: Config, *, to: str, sender: str | None, body: str) -> Sent:
    """Create one Message resource; shared by SMS and WhatsApp (which prefix addresses with ``whatsapp:``)."""
    form = {"To": to, "Body": body}
    if config.messaging_service_sid and sender is None:
        form["MessagingServiceSid"] = config.messaging_service_sid
    elif sender is not None:
        form["From"] = sender
    if config.status_callback_url:
        form["StatusCallback"] = config.status_callback_url
    url = f"{config.api_base}/2010-04-01/Accounts/{config.account_sid}/Messages.json"
    try:
        response = client.post(
            url, data=form, auth=(config.account_sid, config.auth_token.get_secret_value()), timeout=TIMEOUT
        )
    except httpx.TimeoutException as exc:
        raise SendFailed(f"Twilio timed out: {type(exc).__name__}", retryable=True) from exc
    except httpx.TransportError as exc:
        raise SendFailed(f"could not reach Twilio: {type(exc).__name__}", retryable=True) from exc
    if response.status_code not in (200, 201):
        raise _failure(response)
    try:
        sid = str(response.json()["sid"])
    except (ValueError, KeyError, TypeError) as exc:
        raise SendFailed("Twilio accepted the message but its answer has no sid", retryable=False) from exc
    return Sent(provider_message_id=sid)


class TwilioSms:
    name = "twilio_sms"
    kinds = frozenset({Kind.sms})
    Config: type[BaseModel] = Config

    def send(self, message: Outbound, config: BaseModel, *, client: httpx.Client) -> Sent:
        assert isinstance(config, _Config)
        return post_message(
            client, config, to=message.to, sender=config.from_number, body=message.rendered.text
        )


_Config = Config
channel = TwilioSms()
