"""Opaque cursors for keyset pagination over (created_at, id)."""

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import Session

from doorstep.core.errors import Invalid

T = TypeVar("T")


@dataclass(frozen=True)
class Cursor:
    created_at: datetime
    id: int


def encode_cursor(cursor: Cursor) -> str:
    raw = json.dumps([cursor.created_at.isoformat(), cursor.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> Cursor:
    try:
        padded = token + "=" * (-len(token) % 4)
        created, ident = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return Cursor(datetime.fromisoformat(created), int(ident))
    except (ValueError, TypeError) as exc:
        raise Invalid.field(
            "cursor", "is not a cursor this API issued", "pass the next_cursor value of the previous page"
        ) from exc


def paginate(
    session: Session, stmt: Select[T], model: Any, *, limit: int, cursor: str | None
) -> tuple[list[T], str | None]:
    """Newest first, keyset on (created_at, id): stable under inserts, no OFFSET scans."""
    if cursor:
        after = decode_cursor(cursor)
        stmt = stmt.where(
            or_(
                model.created_at < after.created_at,
                and_(model.created_at == after.created_at, model.id < after.id),
            )
        )
    rows = list(session.scalars(stmt.order_by(model.created_at.desc(), model.id.desc()).limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor(Cursor(getattr(last, "created_at"), getattr(last, "id")))  # noqa: B009
    return rows, next_cursor
