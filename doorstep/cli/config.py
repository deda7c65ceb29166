"""`doorstep config show`: every setting with its description and current value (secrets masked)."""

from typing import Any

import typer
from pydantic import BaseModel, SecretStr
from rich.table import Table
from sqlalchemy import make_url

from doorstep.cli import context

config = typer.Typer(help="Show configuration.", no_args_is_help=True)


def _rows(model: BaseModel, prefix: str) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    for name, field in type(model).model_fields.items():
        value: Any = getattr(model, name)
        env = f"{prefix}{name.upper()}"
        if isinstance(value, BaseModel):
            rows.extend(_rows(value, env + "__"))
            continue
        if isinstance(value, SecretStr):
            shown = "********"
        elif name == "database_url" and value:
            shown = make_url(str(value)).render_as_string(hide_password=True)
        else:
            shown = str(value)
        rows.append((env, shown, field.description or ""))
    return rows


@config.command("show")
def show(ctx: typer.Context) -> None:
    """Print every DOORSTEP_* setting."""
    app = context.get(ctx)
    table = Table("variable", "value", "meaning")
    for row in _rows(app.settings, "DOORSTEP_"):
        table.add_row(*row)
    table.add_row("(database in use)", app.settings.resolved_database_url.split("@")[-1], "")
    context.console.print(table)
