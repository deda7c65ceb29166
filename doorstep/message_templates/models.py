from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from doorstep.db import Base, Timestamped


class MessageTemplate(Timestamped, Base):
    """A store's own template for one milestone, kind and locale; it replaces the shipped default.

    Saved only after it compiled and rendered against the sample context, so sending never meets a
    template that cannot work; ``last_failure`` records a render that failed on real data anyway (the
    default was sent instead).
    """

    __tablename__ = "message_templates"
    __table_args__ = (UniqueConstraint("store_id", "milestone", "kind", "locale"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    milestone: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    locale: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str | None] = mapped_column(String(1000))  # email only
    body: Mapped[str] = mapped_column(Text)  # MJML (email) or text (SMS, WhatsApp)
    text: Mapped[str | None] = mapped_column(Text)  # email only: explicit plain-text part
    is_enabled: Mapped[bool] = mapped_column(default=True)
    last_failure: Mapped[str | None] = mapped_column(String(2000))
    last_failure_at: Mapped[datetime | None]
