from datetime import datetime
from typing import Any

from pydantic import BaseModel

from doorstep.stores.models import ApiKey, Store


class StoreRead(BaseModel):
    id: str
    slug: str
    name: str
    locale: str
    timezone: str
    country: str | None
    currency: str
    support_email: str | None
    support_phone: str | None
    support_url: str | None
    branding: dict[str, Any]
    policies: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, store: Store) -> "StoreRead":
        return cls(
            id=store.public_id,
            slug=store.slug,
            name=store.name,
            locale=store.locale,
            timezone=store.timezone,
            country=store.country,
            currency=store.currency,
            support_email=store.support_email,
            support_phone=store.support_phone,
            support_url=store.support_url,
            branding=dict(store.branding),
            policies=dict(store.policies),
            created_at=store.created_at,
        )


class ApiKeyRead(BaseModel):
    id: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> "ApiKeyRead":
        return cls(
            id=key.public_id,
            name=key.name,
            prefix=f"dsk_{key.lookup}",
            created_at=key.created_at,
            last_used_at=key.last_used_at,
            revoked_at=key.revoked_at,
        )
