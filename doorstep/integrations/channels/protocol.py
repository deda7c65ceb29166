"""The contract every channel implements, and the types messaging hands it.

A channel is one module under ``integrations/channels/`` with a docstring, a ``Config`` model (per-store
credentials, stored with ``doorstep.stores.service.set_connection`` under the channel's ``name``), a
``send`` that only does I/O, a module-level instance, and one line in ``registry.py``. Whether to send at
all (consent, preferences, quiet hours, caps, superseded milestones) is decided before a channel is called,
by ``doorstep.messaging.policy``; a channel never reads the database.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

import httpx
from pydantic import BaseModel


class Kind(StrEnum):
    """What a shopper receives; several channels can carry one kind (SMTP or devbox for email)."""

    email = "email"
    sms = "sms"
    whatsapp = "whatsapp"


@dataclass(frozen=True)
class Rendered:
    """One message rendered for one kind and locale (``doorstep.messaging.render``)."""

    kind: Kind
    locale: str
    text: str  # the plain-text part (email) or the whole body (SMS, WhatsApp)
    subject: str | None = None  # email only
    html: str | None = None  # email only: responsive HTML from MJML, styles inlined
    segments: int | None = None  # SMS only: GSM-7 / UCS-2 segment count
    encoding: str | None = None  # SMS only: "GSM-7" or "UCS-2"


@dataclass(frozen=True)
class Outbound:
    """Everything a channel needs to send one message; ``message_id`` doubles as the idempotency key."""

    message_id: str  # the messages row's public id (msg_…)
    store_id: int
    kind: Kind
    to: str  # an e-mail address or an E.164 phone number
    sender: str  # From address / sending number, resolved from the store's configuration
    rendered: Rendered
    headers: Mapping[str, str] = field(default_factory=dict)  # e.g. List-Unsubscribe (email)
    metadata: Mapping[str, Any] = field(default_factory=dict)  # milestone, order and shipment ids


@dataclass(frozen=True)
class Sent:
    """The provider accepted the message."""

    provider_message_id: str | None


class SendFailed(Exception):
    """The provider refused or could not be reached. ``retryable`` says whether trying again may help
    (a timeout, 429 or 5xx: yes; an invalid number or a rejected credential: no)."""

    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


class Channel(Protocol):
    name: str  # registry key and connection provider name, e.g. "smtp", "twilio_sms", "devbox"
    kinds: frozenset[Kind]  # the kinds it can carry
    Config: type[BaseModel]

    def send(self, message: Outbound, config: BaseModel, *, client: httpx.Client) -> Sent: ...


@dataclass(frozen=True)
class Profile:
    """Who a published milestone is about, as marketing tools identify people."""

    email: str | None = None
    phone: str | None = None  # E.164
    first_name: str | None = None
    last_name: str | None = None
    external_id: str | None = None  # the customer's public id


@dataclass(frozen=True)
class Published:
    """One milestone as systems outside Doorstep receive it (Klaviyo metrics, outbound webhooks)."""

    event_id: str  # the milestone event's public id (ms_…): the idempotency key downstream
    name: str  # the milestone, e.g. "shipment.delivered"
    occurred_at: datetime
    store_id: int
    profile: Profile
    properties: Mapping[str, Any]  # order number, tracking number, carrier, status, tracking link, items…


class Publisher(Protocol):
    """Pushes milestones (not messages) to a store's marketing tool, e.g. Klaviyo's Events API."""

    name: str
    Config: type[BaseModel]

    def publish(self, event: Published, config: BaseModel, *, client: httpx.Client) -> Sent: ...
