from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from doorstep.db import Base, Timestamped


class ImportRun(Timestamped, Base):
    """One run of a history import: what it read, how far it got, and what it imported or rejected.

    Progress is committed with each batch, so an interrupted run shows where it stopped; the next run
    of the same input skips what is already there (orders are matched by external id) and goes on.
    """

    __tablename__ = "import_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(32))
    input: Mapped[str] = mapped_column(String(2000))
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | completed | stopped
    batches: Mapped[int] = mapped_column(default=0)
    orders_imported: Mapped[int] = mapped_column(default=0)
    orders_skipped: Mapped[int] = mapped_column(default=0)
    rejected: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
