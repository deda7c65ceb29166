"""The outbox's storage: the devbox channel's "provider" (writes) and the /dev/outbox page's reads."""

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from doorstep.core import clock, ids
from doorstep.core.errors import NotFound
from doorstep.core.pagination import paginate
from doorstep.core.tenancy import scoped
from doorstep.db import transaction
from doorstep.integrations.channels.protocol import Outbound
from doorstep.outbox.models import OutboxMessage


def _plain(values: Mapping[str, Any]) -> dict[str, Any]:
    return {
        str(k): v if isinstance(v, str | int | float | bool) or v is None else str(v)
        for k, v in values.items()
    }


def record(session: Session, *, message: Outbound) -> OutboxMessage:
    """Store a delivered message once per ``message_id``; a second delivery returns the first row."""
    existing = _by_message_id(session, message.store_id, message.message_id)
    if existing is not None:
        return existing
    rendered = message.rendered
    now = clock.now()
    row = OutboxMessage(
        public_id=ids.new_id("obx"),
        store_id=message.store_id,
        message_id=message.message_id,
        kind=message.kind.value,
        locale=rendered.locale,
        to_address=message.to,
        sender=message.sender,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        segments=rendered.segments,
        encoding=rendered.encoding,
        headers=dict(message.headers),
        details=_plain(message.metadata),
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        # A concurrent twin stored it first: answer with that one.
        found = _by_message_id(session, message.store_id, message.message_id)
        if found is None:
            raise
        return found
    return row


def _by_message_id(session: Session, store_id: int, message_id: str) -> OutboxMessage | None:
    stmt = scoped(select(OutboxMessage), OutboxMessage, store_id).where(
        OutboxMessage.message_id == message_id
    )
    return session.scalars(stmt).one_or_none()


class Sink:
    """The devbox channel's outbox: each delivery is its own short transaction, like a provider's API call."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._factory = factory

    def deliver(self, message: Outbound) -> str:
        with transaction(self._factory) as session:
            return record(session, message=message).public_id


def list_messages(
    session: Session, *, store_id: int | None = None, limit: int = 50, cursor: str | None = None
) -> tuple[list[OutboxMessage], str | None]:
    """Newest first. ``store_id`` None lists every store's messages (the local /dev/outbox page)."""
    stmt = select(OutboxMessage)
    if store_id is not None:
        stmt = scoped(stmt, OutboxMessage, store_id)
    return paginate(session, stmt, OutboxMessage, limit=limit, cursor=cursor)


def get_message(session: Session, *, outbox_id: str, store_id: int | None = None) -> OutboxMessage:
    stmt = select(OutboxMessage).where(OutboxMessage.public_id == outbox_id)
    if store_id is not None:
        stmt = scoped(stmt, OutboxMessage, store_id)
    row = session.scalars(stmt).one_or_none()
    if row is None:
        raise NotFound(f"outbox message {outbox_id} not found")
    return row
