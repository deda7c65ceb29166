"""Alembic, driven from code: `doorstep migrate` and `doorstep serve` (SQLite) call :func:`upgrade`.

Upgrades go to every head, so capabilities developed side by side may each branch from the same
revision; a merge revision joins them when convenient.
"""

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.set_main_option(
        "file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(hour).2d%%(minute).2d-%%(rev)s_%%(slug)s"
    )
    return config


def upgrade(engine: Engine, revision: str = "heads") -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def head_revisions() -> frozenset[str]:
    return frozenset(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


def current_revisions(engine: Engine) -> frozenset[str]:
    with engine.connect() as connection:
        return frozenset(MigrationContext.configure(connection).get_current_heads())
