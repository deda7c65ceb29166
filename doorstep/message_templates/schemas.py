from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from doorstep import milestones
from doorstep.integrations.channels.protocol import Kind, Rendered
from doorstep.message_templates.models import MessageTemplate
from doorstep.messaging.context import TemplateContext


class TemplateCreate(BaseModel):
    """A store's own template for one milestone, kind and locale (Jinja2, sandboxed; email body in MJML)."""

    model_config = ConfigDict(extra="forbid")

    milestone: str = Field(description="A milestone name, e.g. shipment.shipped.")
    kind: Kind
    locale: str = Field(min_length=2, max_length=16, description="en, es, fr, de or pt_BR.")
    subject: str | None = Field(None, max_length=1000, description="Email only: the subject line (Jinja).")
    body: str = Field(min_length=1, max_length=100_000, description="MJML for email, text for SMS/WhatsApp.")
    text: str | None = Field(
        None,
        max_length=100_000,
        description="Email only: the plain-text part; derived from the HTML if absent.",
    )
    is_enabled: bool = True

    @field_validator("milestone")
    @classmethod
    def _known_milestone(cls, value: str) -> str:
        if value not in milestones.MILESTONES:
            raise ValueError(f"unknown milestone; use one of {', '.join(milestones.MILESTONES)}")
        return value


class TemplateUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str | None = Field(None, max_length=1000)
    body: str | None = Field(None, min_length=1, max_length=100_000)
    text: str | None = Field(None, max_length=100_000)
    is_enabled: bool | None = None


class TemplateRead(BaseModel):
    id: str
    milestone: str
    kind: Kind
    locale: str
    subject: str | None
    body: str
    text: str | None
    is_enabled: bool
    last_failure: str | None
    last_failure_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: MessageTemplate) -> "TemplateRead":
        return cls(
            id=row.public_id,
            milestone=row.milestone,
            kind=Kind(row.kind),
            locale=row.locale,
            subject=row.subject,
            body=row.body,
            text=row.text,
            is_enabled=row.is_enabled,
            last_failure=row.last_failure,
            last_failure_at=row.last_failure_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class TemplatePage(BaseModel):
    data: list[TemplateRead]
    next_cursor: str | None


class DefaultTemplateRead(BaseModel):
    id: str = Field(
        description="<milestone>:<kind>:<locale>; preview it, or override it with POST /templates."
    )
    milestone: str
    kind: Kind
    locale: str
    body: str


class PreviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    context: TemplateContext | None = Field(
        None, description="The data to render with; the sample context in the store's branding if absent."
    )


class PreviewRead(BaseModel):
    kind: Kind
    locale: str
    subject: str | None
    html: str | None
    text: str
    segments: int | None
    encoding: str | None

    @classmethod
    def of(cls, rendered: Rendered) -> "PreviewRead":
        return cls(
            kind=rendered.kind,
            locale=rendered.locale,
            subject=rendered.subject,
            html=rendered.html,
            text=rendered.text,
            segments=rendered.segments,
            encoding=rendered.encoding,
        )


class TestSendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: str = Field(min_length=3, max_length=320, description="An e-mail address or an E.164 phone number.")


class TestSendRead(BaseModel):
    channel: str
    to: str
    provider_message_id: str | None
