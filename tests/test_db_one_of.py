"""doorstep.db.one_of: ``IN`` for batch lists, one array parameter on PostgreSQL."""

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, event, select
from sqlalchemy.orm import Session, sessionmaker

from doorstep.db import one_of

_metadata = MetaData()
_things = Table(
    "one_of_things", _metadata, Column("id", Integer, primary_key=True), Column("token", String(40))
)


@pytest.mark.parametrize("size", [0, 1, 70])  # 70: past psycopg's 50-parameter cache limit
def test_selects_exactly_the_listed_rows_by_integer_and_by_string(
    engine: Engine, factory: sessionmaker[Session], size: int
) -> None:
    _metadata.create_all(engine)
    with factory() as session, session.begin():
        session.execute(_things.insert(), [{"id": n, "token": f"t_{n:03d}"} for n in range(1, 101)])
        wanted = list(range(2, 2 + 2 * size, 2))  # every other id, with one absent id (> 100) when long
        by_id = session.scalars(select(_things.c.id).where(one_of(session, _things.c.id, wanted)))
        assert sorted(by_id) == [n for n in wanted if n <= 100]
        tokens = [f"t_{n:03d}" for n in wanted]
        by_token = session.scalars(select(_things.c.id).where(one_of(session, _things.c.token, iter(tokens))))
        assert sorted(by_token) == [n for n in wanted if n <= 100]


def test_on_postgresql_the_statement_sent_is_the_same_for_any_length(
    engine: Engine, factory: sessionmaker[Session]
) -> None:
    """What reaches the driver: one text on PostgreSQL (psycopg caches and prepares it), one per length
    on SQLite (``IN`` expands to a placeholder per value)."""
    _metadata.create_all(engine)
    sent: list[str] = []

    def capture(conn: object, cursor: object, statement: str, *rest: object) -> None:
        if "one_of_things" in statement:
            sent.append(statement)

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with factory() as session:
            for n in (1, 5, 70):
                session.execute(select(_things.c.id).where(one_of(session, _things.c.token, ["x"] * n)))
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert len(sent) == 3
    assert len(set(sent)) == (1 if engine.dialect.name == "postgresql" else 3), sent
