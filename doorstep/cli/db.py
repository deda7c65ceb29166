"""`doorstep migrate`."""

import typer

from doorstep import migrate as migrations
from doorstep.cli import context


def migrate(ctx: typer.Context) -> None:
    """Apply database migrations up to the latest revision."""
    app = context.get(ctx)
    migrations.upgrade(app.engine)
    revisions = ", ".join(sorted(migrations.current_revisions(app.engine)))
    context.console.print(f"database at revision [bold]{revisions}[/bold]")
