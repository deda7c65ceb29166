"""`doorstep events list|show|replay`: the inbound log, and replay of rejected payloads."""

import json
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from doorstep.cli import context
from doorstep.core.errors import DoorstepError
from doorstep.db import transaction
from doorstep.inbound import service as inbound_service
from doorstep.inbound.models import EventStatus
from doorstep.stores import service as store_service

events = typer.Typer(help="Inspect and replay inbound payloads.", no_args_is_help=True)


def _store_id(app: context.Context, slug: str | None) -> int | None:
    if slug is None:
        return None
    with transaction(app.factory) as session:
        return store_service.get_store_by_slug(session, slug=slug).id


@events.command("list")
def list_events(
    ctx: typer.Context,
    status: Annotated[
        EventStatus | None, typer.Option(help="received, applied, duplicate or rejected.")
    ] = None,
    source: Annotated[str | None, typer.Option(help="e.g. api, shopify.")] = None,
    store: Annotated[str | None, typer.Option(help="Store slug.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """List recent inbound events, newest first."""
    app = context.get(ctx)
    table = Table("id", "received", "source", "topic", "status", "subject", "reason")
    table.columns[0].no_wrap = True
    table.columns[0].min_width = 28
    try:
        store_id = _store_id(app, store)
        with transaction(app.factory) as session:
            rows, _ = inbound_service.list_events(
                session, store_id=store_id, status=status, source=source, limit=limit
            )
            for e in rows:
                table.add_row(
                    e.public_id, f"{e.received_at:%Y-%m-%d %H:%M:%S}", e.source, e.topic, e.status,
                    e.subject or "", (e.reason or "")[:80],
                )  # fmt: skip
    except DoorstepError as exc:
        raise context.fail(exc) from exc
    context.console.print(table)


@events.command("show")
def show_event(ctx: typer.Context, event_id: str) -> None:
    """Show one event with its raw body and outcome."""
    app = context.get(ctx)
    try:
        with transaction(app.factory) as session:
            e = inbound_service.get_event(session, event_id=event_id)
            summary = {
                "id": e.public_id, "source": e.source, "topic": e.topic, "status": e.status,
                "idempotency_key": e.idempotency_key, "payload_hash": e.payload_hash,
                "received_at": e.received_at.isoformat(), "attempts": e.attempts, "reason": e.reason,
                "errors": e.problems, "subject": e.subject, "milestones": e.milestones, "params": e.params,
            }  # fmt: skip
            body = e.body.decode("utf-8", errors="replace")
    except DoorstepError as exc:
        raise context.fail(exc) from exc
    context.console.print_json(json.dumps(summary))
    try:
        context.console.print_json(body)
    except json.JSONDecodeError:
        context.console.print(body, markup=False)


@events.command("replay")
def replay(
    ctx: typer.Context,
    event_id: Annotated[str | None, typer.Argument(help="evt_… id to replay.")] = None,
    all_rejected: Annotated[
        bool, typer.Option("--all-rejected", help="Replay every rejected event.")
    ] = False,
    store: Annotated[str | None, typer.Option(help="With --all-rejected: only this store.")] = None,
) -> None:
    """Apply rejected payloads again after a fix."""
    app = context.get(ctx)
    if (event_id is None) == (not all_rejected):
        raise context.fail("give an event id or --all-rejected (not both)")
    try:
        if event_id:
            outcome = inbound_service.replay(app.factory, event_id)
            context.console.print(f"{outcome.event_id}: {outcome.status.value} {outcome.reason or ''}")
            if outcome.status is EventStatus.rejected:
                raise typer.Exit(1)
            return
        store_id = _store_id(app, store)
        with transaction(app.factory) as session:
            ids = inbound_service.rejected_ids(session, store_id=store_id)
    except DoorstepError as exc:
        raise context.fail(exc) from exc
    counts = dict.fromkeys(EventStatus, 0)
    columns = (TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=context.errors) as progress:
        for ident in progress.track(ids):
            counts[inbound_service.replay(app.factory, ident).status] += 1
    context.console.print(
        f"replayed {len(ids)}: {counts[EventStatus.applied]} applied, {counts[EventStatus.rejected]} still rejected"
    )
