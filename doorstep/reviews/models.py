from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from doorstep.db import Base, Timestamped


class ReviewImport(Timestamped, Base):
    """A review as a history import found it, kept raw until the reviews capability processes it."""

    __tablename__ = "review_imports"
    __table_args__ = (UniqueConstraint("store_id", "source", "external_id", "order_external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(100))
    order_external_id: Mapped[str] = mapped_column(String(100))
    score: Mapped[int]
    title: Mapped[str | None] = mapped_column(String(500))
    message: Mapped[str | None] = mapped_column(Text)
    reviewed_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    raw: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
