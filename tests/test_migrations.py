"""The schema built by migrations equals the one the models declare, on SQLite and PostgreSQL."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from doorstep import migrate
from doorstep.schema import metadata


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    """``engine`` comes from a template built by ``alembic upgrade head``."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    assert differences == []
    assert migrate.current_revisions(engine) == migrate.head_revisions()


def test_migrations_are_reversible(engine: Engine) -> None:
    config = migrate.alembic_config(engine.url.render_as_string(hide_password=False))
    from alembic import command

    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(engine)
    assert "orders" in inspect(engine).get_table_names()
