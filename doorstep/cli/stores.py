"""`doorstep stores create|list` and `doorstep keys create|list|revoke`."""

from typing import Annotated

import typer
from pydantic import ValidationError
from rich.table import Table

from doorstep.cli import context
from doorstep.core.errors import DoorstepError, invalid_from_validation
from doorstep.db import transaction
from doorstep.stores import service as store_service
from doorstep.stores.commands import CreateStore

stores = typer.Typer(help="Manage stores (tenants).", no_args_is_help=True)
keys = typer.Typer(help="Manage API keys.", no_args_is_help=True)


@stores.command("create")
def create_store(
    ctx: typer.Context,
    slug: Annotated[str, typer.Argument(help="URL-safe id, e.g. acme-coffee.")],
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    locale: Annotated[str, typer.Option()] = "en",
    timezone: Annotated[str, typer.Option()] = "UTC",
    currency: Annotated[str, typer.Option()] = "USD",
    support_email: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Create a store."""
    app = context.get(ctx)
    try:
        cmd = CreateStore(
            slug=slug, name=name or slug, locale=locale, timezone=timezone, currency=currency,
            support_email=support_email,
        )  # fmt: skip
    except ValidationError as exc:
        raise context.fail(invalid_from_validation(list(exc.errors()))) from exc  # type: ignore[arg-type]
    try:
        with transaction(app.factory) as session:
            store = store_service.create_store(session, cmd=cmd)
            context.console.print(f"created store [bold]{store.slug}[/bold] ({store.public_id})")
    except DoorstepError as exc:
        raise context.fail(exc) from exc


@stores.command("list")
def list_stores(ctx: typer.Context) -> None:
    """List stores."""
    app = context.get(ctx)
    table = Table("id", "slug", "name", "locale", "timezone", "currency")
    with transaction(app.factory) as session:
        for store in store_service.list_stores(session):
            table.add_row(
                store.public_id, store.slug, store.name, store.locale, store.timezone, store.currency
            )
    context.console.print(table)


@keys.command("create")
def create_key(
    ctx: typer.Context,
    store: Annotated[str, typer.Option(help="Store slug.")],
    name: Annotated[str, typer.Option(help="What the key is for.")] = "default",
) -> None:
    """Create an API key. The key is printed once; only its hash is stored."""
    app = context.get(ctx)
    try:
        with transaction(app.factory) as session:
            owner = store_service.get_store_by_slug(session, slug=store)
            issued = store_service.create_api_key(session, store_id=owner.id, name=name)
    except DoorstepError as exc:
        raise context.fail(exc) from exc
    context.errors.print(f"API key {issued.key.public_id} for {store} (shown once, store it now):")
    context.console.print(issued.secret, soft_wrap=True)


@keys.command("list")
def list_keys(ctx: typer.Context, store: Annotated[str, typer.Option(help="Store slug.")]) -> None:
    """List a store's keys (prefixes only)."""
    app = context.get(ctx)
    table = Table("id", "prefix", "name", "created", "last used", "revoked")
    try:
        with transaction(app.factory) as session:
            owner = store_service.get_store_by_slug(session, slug=store)
            for key in store_service.list_api_keys(session, store_id=owner.id):
                table.add_row(
                    key.public_id, f"dsk_{key.lookup}", key.name, f"{key.created_at:%Y-%m-%d %H:%M}",
                    f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "-",
                    f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "-",
                )  # fmt: skip
    except DoorstepError as exc:
        raise context.fail(exc) from exc
    context.console.print(table)


@keys.command("revoke")
def revoke_key(
    ctx: typer.Context, key_id: Annotated[str, typer.Argument(help="key_… id or dsk_… prefix.")]
) -> None:
    """Revoke a key; requests with it get 401 from now on."""
    app = context.get(ctx)
    try:
        with transaction(app.factory) as session:
            key = store_service.revoke_api_key(session, key_id=key_id)
            context.console.print(f"revoked {key.public_id} (dsk_{key.lookup})")
    except DoorstepError as exc:
        raise context.fail(exc) from exc
