"""Typed inputs for stores and API keys (used by the CLI and, later, the admin)."""

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from doorstep.core.fields import Country, Currency, Email, Locale, Phone, TimeZone
from doorstep.stores import branding

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


def _https_url(value: str | None) -> str | None:
    if value is None:
        return None
    if not value.startswith("https://") or any(c in value for c in " \"'<>()\\"):
        raise ValueError("use an https:// URL without spaces, quotes or brackets")
    return value


class UpdateBranding(BaseModel):
    """PATCH /api/v1/stores/me/branding: only the fields sent change; ``null`` clears one."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    logo_url: str | None = Field(None, max_length=2000, description="https URL of the logo image.")
    favicon_url: str | None = Field(None, max_length=2000, description="https URL of the favicon.")
    primary_color: str | None = Field(None, description="Hex colour for headings, links and buttons.")
    accent_color: str | None = Field(None, description="Hex colour for the progress bar and highlights.")
    background_color: str | None = Field(None, description="Hex colour of the page background.")
    font_stack: str | None = Field(
        None, description="CSS font-family list: letters, digits, spaces, commas, quotes and dashes."
    )
    custom_css: str | None = Field(
        None,
        max_length=branding.MAX_CSS_CHARS,
        description="Extra CSS for the shopper pages; sanitised (no @import, no non-https url(), …).",
    )
    hostname: str | None = Field(
        None, max_length=253, description="Custom domain serving this store's pages, e.g. track.example.com."
    )

    @field_validator("logo_url", "favicon_url")
    @classmethod
    def _urls(cls, value: str | None) -> str | None:
        return _https_url(value)

    @field_validator("primary_color", "accent_color", "background_color")
    @classmethod
    def _colours(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return branding.normalize_hex(value)
        except ValueError:
            raise ValueError("use a hex colour such as #1f5f4a or #fff") from None

    @field_validator("font_stack")
    @classmethod
    def _fonts(cls, value: str | None) -> str | None:
        if value is not None and not branding.FONT_STACK.match(value):
            raise ValueError(
                "use font names, commas, quotes, spaces and dashes only (at most 300 characters)"
            )
        return value

    @field_validator("hostname")
    @classmethod
    def _hostname(cls, value: str | None) -> str | None:
        if value is None:
            return None
        host = value.lower().rstrip(".")
        if not branding.HOSTNAME.match(host):
            raise ValueError("use a domain name such as track.example.com (no scheme, port or path)")
        return host
