from datetime import datetime
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from doorstep import milestones
from doorstep.webhooks.models import WebhookDelivery, WebhookEndpoint

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _check_url(value: str) -> str:
    parts = urlsplit(value)
    if not parts.hostname:
        raise ValueError("must be an absolute URL such as https://example.com/hooks/doorstep")
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK):
        return value
    raise ValueError("must use https:// (plain http only for a receiver on this machine)")


def _check_milestones(value: list[str]) -> list[str]:
    unknown = [name for name in value if name not in milestones.MILESTONES]
    if unknown:
        raise ValueError(f"unknown milestones {unknown}; use names from {', '.join(milestones.MILESTONES)}")
    return sorted(set(value))


class EndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2000, description="Where to POST: https://… (http only for localhost).")
    description: str | None = Field(None, max_length=500)
    milestones: list[str] = Field(
        default_factory=list, description="Milestone names to receive; empty means every milestone."
    )
    is_enabled: bool = True

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _check_url(value)

    @field_validator("milestones")
    @classmethod
    def _milestones(cls, value: list[str]) -> list[str]:
        return _check_milestones(value)


class EndpointUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(None, max_length=2000)
    description: str | None = Field(None, max_length=500)
    milestones: list[str] | None = None
    is_enabled: bool | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _check_url(value)

    @field_validator("milestones")
    @classmethod
    def _milestones(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _check_milestones(value)


class EndpointRead(BaseModel):
    id: str
    url: str
    description: str | None
    milestones: list[str]
    is_enabled: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: WebhookEndpoint) -> "EndpointRead":
        return cls(
            id=row.public_id,
            url=row.url,
            description=row.description,
            milestones=list(row.milestones),
            is_enabled=row.is_enabled,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class EndpointCreated(EndpointRead):
    secret: str = Field(description="The signing secret (whsec_…). Shown once: store it now.")


class EndpointPage(BaseModel):
    data: list[EndpointRead]
    next_cursor: str | None


class DeliveryRead(BaseModel):
    id: str = Field(description="Also the webhook-id header, the same on every retry.")
    endpoint_id: str
    milestone: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, row: WebhookDelivery, endpoint_public_id: str) -> "DeliveryRead":
        return cls(
            id=row.public_id,
            endpoint_id=endpoint_public_id,
            milestone=row.milestone,
            status=row.status,
            attempts=row.attempts,
            last_status_code=row.last_status_code,
            last_error=row.last_error,
            last_attempt_at=row.last_attempt_at,
            delivered_at=row.delivered_at,
            created_at=row.created_at,
        )


class DeliveryPage(BaseModel):
    data: list[DeliveryRead]
    next_cursor: str | None
