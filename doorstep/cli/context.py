"""What every command needs: settings, an engine and a session factory, built once per invocation."""

from dataclasses import dataclass
from functools import cached_property

import typer
from rich.console import Console
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from doorstep.config import Settings
from doorstep.core.errors import DoorstepError
from doorstep.db import make_engine, make_session_factory

console = Console()
errors = Console(stderr=True)


@dataclass
class Context:
    settings: Settings

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings)

    @cached_property
    def factory(self) -> sessionmaker[Session]:
        return make_session_factory(self.engine)


def get(ctx: typer.Context) -> Context:
    obj = ctx.find_root().obj
    if not isinstance(obj, Context):
        obj = Context(Settings())
        ctx.find_root().obj = obj
    return obj


def fail(error: DoorstepError | str, code: int = 1) -> typer.Exit:
    message = error.detail if isinstance(error, DoorstepError) else error
    errors.print(f"[red]error:[/red] {message}")
    if isinstance(error, DoorstepError):
        for problem in error.problems:
            errors.print(f"  {problem.field}: {problem.message} — {problem.fix}")
    return typer.Exit(code)
