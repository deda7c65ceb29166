"""The `doorstep` command line."""

from typing import Annotated

import typer

from doorstep.cli import context
from doorstep.cli.config import config
from doorstep.cli.db import migrate
from doorstep.cli.demo import demo
from doorstep.cli.imports import imports
from doorstep.cli.inbound import events
from doorstep.cli.jobs import jobs
from doorstep.cli.serve import serve, worker
from doorstep.cli.stores import keys, stores
from doorstep.cli.tracking import connections, tracking
from doorstep.config import Settings

app = typer.Typer(
    name="doorstep",
    help="Doorstep: self-hosted post-purchase experience (tracking, notifications, returns).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _root(
    ctx: typer.Context,
    database_url: Annotated[
        str | None, typer.Option(help="Override DOORSTEP_DATABASE_URL.", envvar="DOORSTEP_DATABASE_URL")
    ] = None,
) -> None:
    settings = Settings()
    if database_url:
        settings = settings.model_copy(update={"database_url": database_url})
    ctx.obj = context.Context(settings)


app.command()(serve)
app.command()(worker)
app.command()(migrate)
app.command()(demo)
app.add_typer(stores, name="stores")
app.add_typer(keys, name="keys")
app.add_typer(events, name="events")
app.add_typer(jobs, name="jobs")
app.add_typer(config, name="config")
app.add_typer(tracking, name="tracking")
app.add_typer(connections, name="connections")
app.add_typer(imports, name="import")
