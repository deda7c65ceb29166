"""Typed inputs for stores and API keys (used by the CLI and, later, the admin)."""

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from doorstep.core.fields import Country, Currency, Email, Locale, Phone, TimeZone

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


class CreateStore(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    slug: str = Field(..., description="URL-safe identifier: lowercase letters, digits and dashes.")
    name: str = Field(..., min_length=1, max_length=200)
    locale: Locale = "en"
    timezone: TimeZone = "UTC"
    country: Country | None = None
    currency: Currency = "USD"
    support_email: Email | None = None
    support_phone: Phone | None = None
    support_url: str | None = Field(None, max_length=2000)

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not SLUG.match(value):
            raise ValueError(
                "use 1-63 lowercase letters, digits and dashes, not starting or ending with a dash"
            )
        return value
