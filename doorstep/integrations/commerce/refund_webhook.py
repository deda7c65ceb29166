"""Refunds for platforms without a built-in adapter: a signed webhook to the merchant's own endpoint.

Signed with Standard Webhooks (https://www.standardwebhooks.com/: ``webhook-id``, ``webhook-timestamp``,
``webhook-signature``) through the ``standardwebhooks`` package, since this branch has no outbound webhook
channel yet. The ``webhook-id`` is Doorstep's refund id, so a receiver can drop a retried delivery. Any 2xx
answer means the platform refunded; a JSON ``{"id": "…"}`` in the answer becomes the refund's external id.
"""

import json
from dataclasses import dataclass
from datetime import datetime

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from standardwebhooks.webhooks import Webhook

from doorstep.core import clock
from doorstep.integrations.commerce.refunds import RefundAnswer
from doorstep.returns.commands import IssueRefund

NAME = "refund_webhook"
EVENT = "refund.requested"


class Config(BaseModel):
    """A store's refund webhook: where to POST and the shared secret (``whsec_…``, base64)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(..., min_length=8, max_length=2000, pattern=r"^https?://")
    secret: SecretStr = Field(..., min_length=8, description="Standard Webhooks secret, e.g. whsec_MfKQ9r8G…")


def build(cmd: IssueRefund, at: datetime) -> tuple[str, dict[str, str]]:
    body = json.dumps(
        {"type": EVENT, "timestamp": at.isoformat(), "data": cmd.model_dump(mode="json")},
        separators=(",", ":"),
    )
    return body, {"webhook-id": cmd.refund_id, "content-type": "application/json"}


def send(client: httpx.Client, config: Config, cmd: IssueRefund) -> RefundAnswer:
    at = clock.now()
    body, headers = build(cmd, at)
    headers["webhook-timestamp"] = str(int(at.timestamp()))
    headers["webhook-signature"] = Webhook(config.secret.get_secret_value()).sign(cmd.refund_id, at, body)
    try:
        response = client.post(config.url, content=body.encode(), headers=headers)
    except httpx.HTTPError as exc:
        return RefundAnswer(False, error=f"refund webhook unreachable: {type(exc).__name__}: {exc}")
    if not 200 <= response.status_code < 300:
        retryable = response.status_code == 429 or response.status_code >= 500
        return RefundAnswer(
            False,
            error=f"refund webhook: HTTP {response.status_code}: {response.text[:300]}",
            retryable=retryable,
        )
    try:
        answer = response.json()
    except ValueError:
        answer = None
    external = str(answer["id"]) if isinstance(answer, dict) and answer.get("id") else cmd.refund_id
    return RefundAnswer(True, external_id=external)


@dataclass(frozen=True)
class RefundChannel:
    """What ``doorstep connections set`` needs to store this channel's credentials."""

    name: str
    title: str
    config_model: type[BaseModel]


CHANNEL = RefundChannel(NAME, "Refund webhook", Config)
