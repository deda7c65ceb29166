"""Rows turned into the columns a bulk insert hands the driver, in the form each backend stores.

Encoding needs no database, only the backend's name, so an import can encode a batch in one process
and insert it in another (``doorstep.imports.pipeline``). :func:`encode_rows` reads rows column by column
(one list per column, encoded as a whole) and encodes each distinct object once per batch (``Memo``).
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from psycopg.types.json import Json
from sqlalchemy import JSON, Date, Table

from doorstep.db import UtcDateTime

Encoder = Callable[[Any], Any]
# Encoded values shared by the inserts of one batch, per encoder: id(value) → (value, stored form).
# Holding the value keeps its id from being reused while the memo lives.
Memo = dict[Encoder, dict[int, tuple[Any, Any]]]
_Column = tuple[str, Encoder | None, Any]  # name, how its value is stored, scalar default
_COLUMNS: dict[tuple[str, str, tuple[str, ...]], list[_Column]] = {}


@dataclass(frozen=True, slots=True)
class Encoded:
    """One table's rows as encoded columns: ``columns[i]`` holds every row's value of ``names[i]``."""

    table: str
    names: tuple[str, ...]
    columns: list[list[Any]]

    def __len__(self) -> int:
        return len(self.columns[0]) if self.columns else 0


def sqlite_datetime(value: datetime | None) -> str | None:
    # What doorstep.db.UtcDateTime + SQLAlchemy's SQLite DATETIME store: naive UTC, microseconds.
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(" ", "microseconds")[:26]  # without the "+00:00"


def _sqlite_json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _sqlite_date(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _pg_json(value: Any) -> Json | None:
    return None if value is None else Json(value)


def columns_for(dialect: str, table: Table, given: tuple[str, ...]) -> list[_Column]:
    """Per column the rows fill, in the table's order: name, stored form, scalar default.

    Columns the rows leave out are filled from their Python scalar default when they have one and
    no server default (so other capabilities' new columns keep working).
    """
    key = (dialect, table.name, given)
    planned = _COLUMNS.get(key)
    if planned is not None:
        return planned
    wanted = set(given)
    planned = []
    for column in table.columns:
        default = column.default
        scalar = getattr(default, "arg", None) if default is not None and default.is_scalar else None
        if column.name not in wanted and scalar is None:
            continue
        kind = column.type
        encoder: Encoder | None = None
        if dialect == "sqlite":
            if isinstance(kind, UtcDateTime):
                encoder = sqlite_datetime
            elif isinstance(kind, JSON):
                encoder = _sqlite_json
            elif isinstance(kind, Date):
                encoder = _sqlite_date
        elif isinstance(kind, JSON):
            encoder = _pg_json
        planned.append((column.name, encoder, scalar))
    _COLUMNS[key] = planned
    return planned


def encode_rows(dialect: str, table: Table, rows: list[dict[str, Any]], memo: Memo | None = None) -> Encoded:
    """``rows`` (each giving the same columns) as encoded columns for ``dialect`` ("sqlite", "postgresql").

    Each distinct object is encoded once: many rows share a value (the batch's ``created_at``, a
    milestone payload), and a batch's tables share more (a scan's time is the checkpoint's, the
    shipment's and the milestone's); pass one ``memo`` to every table of a batch to share those too.
    """
    if not rows:
        return Encoded(table.name, (), [])
    first = rows[0]
    count = len(rows)
    memo = {} if memo is None else memo
    names: list[str] = []
    values: list[list[Any]] = []
    for name, encode, scalar in columns_for(dialect, table, tuple(first)):
        column = [row[name] for row in rows] if name in first else [scalar] * count
        names.append(name)
        values.append(column if encode is None else _encode_all(column, encode, memo.setdefault(encode, {})))
    return Encoded(table.name, tuple(names), values)


def _encode_all(values: list[Any], encode: Encoder, memo: dict[int, tuple[Any, Any]]) -> list[Any]:
    out: list[Any] = []
    append = out.append
    get = memo.get
    for value in values:
        hit = get(id(value))
        if hit is None:
            hit = memo[id(value)] = (value, encode(value))
        append(hit[1])
    return out
