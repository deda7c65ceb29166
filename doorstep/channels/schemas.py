from typing import Any

from pydantic import BaseModel, Field


class ChannelRead(BaseModel):
    name: str = Field(description="smtp, twilio_sms, whatsapp, devbox or klaviyo.")
    kinds: list[str] = Field(
        description="What it carries: email, sms, whatsapp; empty for milestone publishers."
    )
    connected: bool
    config: dict[str, Any] | None = Field(
        description="The stored settings, secrets masked; null when not connected."
    )
    config_schema: dict[str, Any] = Field(description="JSON Schema of the settings PUT expects.")


class ChannelList(BaseModel):
    data: list[ChannelRead]
