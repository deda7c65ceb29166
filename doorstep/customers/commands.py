"""Typed inputs for customers, used by the API and by adapters."""

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from doorstep.core.fields import AwareDatetime, Email, Locale, Phone, TimeZone


class Channel(StrEnum):
    email = "email"
    sms = "sms"
    whatsapp = "whatsapp"


class Frequency(StrEnum):
    every_update = "every_update"
    key_moments = "key_moments"
    none = "none"


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class ConsentInput(_Command):
    channel: Channel
    granted: bool
    source: str = Field("api", max_length=100, description="Where consent was captured, e.g. checkout.")
    recorded_at: AwareDatetime | None = Field(None, description="When it was given; defaults to now.")


class Preferences(_Command):
    frequency: Frequency = Frequency.key_moments
    channels: tuple[Channel, ...] = Field(
        (Channel.email, Channel.sms, Channel.whatsapp), description="Channels in order of preference."
    )
    quiet_hours_start: int | None = Field(None, ge=0, le=23, description="Hour (local) quiet hours begin.")
    quiet_hours_end: int | None = Field(None, ge=0, le=23, description="Hour (local) quiet hours end.")


class UpsertCustomer(_Command):
    """Matched by external_id, then e-mail, then phone within the store; created when nothing matches."""

    external_id: str | None = Field(None, max_length=100)
    email: Email | None = None
    phone: Phone | None = None
    first_name: str | None = Field(None, max_length=200)
    last_name: str | None = Field(None, max_length=200)
    locale: Locale | None = None
    timezone: TimeZone | None = None
    birthday: date | None = None
    consents: tuple[ConsentInput, ...] = ()
    preferences: Preferences | None = None
