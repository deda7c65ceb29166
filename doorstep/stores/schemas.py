from datetime import datetime
from typing import Any

from pydantic import BaseModel

from doorstep.stores import branding
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


class BrandingWarning(BaseModel):
    field: str
    message: str
    fix: str


class BrandingRead(BaseModel):
    """The store's branding as saved, with what the pages will use and what to improve."""

    logo_url: str | None
    favicon_url: str | None
    primary_color: str
    accent_color: str
    background_color: str
    font_stack: str
    custom_css: str
    hostname: str | None
    warnings: list[BrandingWarning]

    @classmethod
    def of(cls, store: Store, removed_css: list[str] | None = None) -> "BrandingRead":
        b = {**branding.DEFAULTS, **{k: v for k, v in store.branding.items() if v is not None}}
        warnings = [
            BrandingWarning(field=w.field, message=w.message, fix=w.fix)
            for w in branding.contrast_warnings(b["primary_color"], b["accent_color"], b["background_color"])
        ]
        warnings += [
            BrandingWarning(
                field="custom_css",
                message=f"removed {item} from the custom CSS",
                fix="serve assets over https and keep the CSS self-contained",
            )
            for item in removed_css or []
        ]
        return cls(
            logo_url=b.get("logo_url"),
            favicon_url=b.get("favicon_url"),
            primary_color=b["primary_color"],
            accent_color=b["accent_color"],
            background_color=b["background_color"],
            font_stack=b["font_stack"],
            custom_css=b.get("custom_css") or "",
            hostname=store.hostname,
            warnings=warnings,
        )
