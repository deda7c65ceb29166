"""Klaviyo: push Doorstep's milestones as Klaviyo events, so brands that design their emails in Klaviyo
can trigger flows on them (as Malomo does).

API: Create Event, ``POST https://a.klaviyo.com/api/events`` (https://developers.klaviyo.com/en/reference/create_event),
a JSON:API document ``{"data": {"type": "event", "attributes": {...}}}`` whose attributes carry the
``metric`` (by name), the ``profile`` (by email and/or phone number) and the event ``properties``.
Headers: ``Authorization: Klaviyo-API-Key <private key>`` and the ``revision`` this module was written
against. Success is ``202 Accepted`` with no body. ``unique_id`` is the milestone event's id: Klaviyo
records an event with a repeated unique_id (same profile and metric) once, so a retried job never
doubles a metric. 429 (with ``Retry-After``) and 5xx are retryable; other 4xx (bad key, invalid
profile) are not. Push only (Klaviyo sends nothing back to Doorstep).
"""

from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from doorstep.integrations.channels.protocol import Published, SendFailed, Sent

REVISION = "2024-10-15"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
SERVICE = "doorstep"

# One Klaviyo metric per milestone: what merchants pick as a flow trigger in Klaviyo.
METRICS: dict[str, str] = {
    "order.placed": "Doorstep Order Placed",
    "order.cancelled": "Doorstep Order Cancelled",
    "shipment.label_created": "Doorstep Label Created",
    "shipment.shipped": "Doorstep Shipped",
    "shipment.out_for_delivery": "Doorstep Out For Delivery",
    "shipment.attempt_failed": "Doorstep Delivery Attempt Failed",
    "shipment.available_for_pickup": "Doorstep Available For Pickup",
    "shipment.delivered": "Doorstep Delivered",
    "shipment.exception": "Doorstep Delivery Exception",
    "shipment.delayed": "Doorstep Delayed",
    "shipment.stalled": "Doorstep Stalled",
    "shipment.returned": "Doorstep Returned To Sender",
    "refund.issued": "Doorstep Refund Issued",
}


class Config(BaseModel):
    """A private API key with the ``events:write`` scope."""

    model_config = ConfigDict(extra="forbid")

    api_key: SecretStr = Field(description="Klaviyo private API key (pk_…) with events:write.")
    api_base: str = Field(
        "https://a.klaviyo.com", description="Klaviyo's API origin (change only for tests)."
    )

    @field_validator("api_base")
    @classmethod
    def _https_or_loopback(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme == "https" or (
            parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")
        ):
            return value.rstrip("/")
        raise ValueError("must be an https:// URL")


def metric_for(milestone: str) -> str:
    return METRICS.get(milestone) or "Doorstep " + milestone.replace(".", " ").replace("_", " ").title()


def document(event: Published) -> dict[str, object]:
    """The Create Event request body."""
    profile: dict[str, object] = {}
    if event.profile.email:
        profile["email"] = event.profile.email
    if event.profile.phone:
        profile["phone_number"] = event.profile.phone
    if event.profile.first_name:
        profile["first_name"] = event.profile.first_name
    if event.profile.last_name:
        profile["last_name"] = event.profile.last_name
    if event.profile.external_id:
        profile["external_id"] = event.profile.external_id
    return {
        "data": {
            "type": "event",
            "attributes": {
                "properties": {"milestone": event.name, **event.properties},
                "time": event.occurred_at.isoformat(),
                "unique_id": event.event_id,
                "metric": {
                    "data": {
                        "type": "metric",
                        "attributes": {"name": metric_for(event.name), "service": SERVICE},
                    }
                },
                "profile": {"data": {"type": "profile", "attributes": profile}},
            },
        }
    }


def _reason(response: httpx.Response) -> str:
    try:
        errors = response.json().get("errors") or []
        detail = "; ".join(str(e.get("detail") or e.get("title") or e.get("code")) for e in errors[:3])
    except (ValueError, AttributeError):
        detail = response.text[:200]
    return f"Klaviyo answered {response.status_code}" + (f": {detail}" if detail else "")


class Klaviyo:
    name = "klaviyo"
    Config: type[BaseModel] = Config

    def publish(self, event: Published, config: BaseModel, *, client: httpx.Client) -> Sent:
        assert isinstance(config, Config)
        if not (event.profile.email or event.profile.phone):
            raise SendFailed(
                "the customer has no email or phone, so Klaviyo cannot identify a profile", retryable=False
            )
        headers = {
            "Authorization": f"Klaviyo-API-Key {config.api_key.get_secret_value()}",
            "revision": REVISION,
            "accept": "application/vnd.api+json",
            "content-type": "application/vnd.api+json",
        }
        try:
            response = client.post(
                f"{config.api_base}/api/events", json=document(event), headers=headers, timeout=TIMEOUT
            )
        except httpx.TimeoutException as exc:
            raise SendFailed(f"Klaviyo timed out: {type(exc).__name__}", retryable=True) from exc
        except httpx.TransportError as exc:
            raise SendFailed(f"could not reach Klaviyo: {type(exc).__name__}", retryable=True) from exc
        if response.status_code in (200, 201, 202):
            return Sent(provider_message_id=event.event_id)
        raise SendFailed(_reason(response), retryable=response.status_code in RETRYABLE_STATUS)


publisher = Klaviyo()
