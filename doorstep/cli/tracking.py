"""`doorstep tracking parse|detect|sweep` and `doorstep connections set|list`."""

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from doorstep.cli import context
from doorstep.core import clock
from doorstep.core.errors import DoorstepError
from doorstep.db import transaction
from doorstep.integrations.commerce import refund_webhook
from doorstep.integrations.commerce import registry as commerce_registry
from doorstep.integrations.tracking import registry as tracking_registry
from doorstep.integrations.tracking.protocol import Unsupported
from doorstep.shipments import carriers
from doorstep.shipments import service as shipment_service
from doorstep.shipments.status import Scan, derive_fingerprint, derive_state
from doorstep.stores import service as store_service

tracking = typer.Typer(help="Debug tracking payloads and numbers.", no_args_is_help=True)
connections = typer.Typer(help="Per-store provider credentials (stored encrypted).", no_args_is_help=True)


@tracking.command("parse")
def parse(
    source: Annotated[str, typer.Option(help=f"One of: {', '.join(sorted(tracking_registry.SOURCES))}.")],
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="A payload as the source sends it.")
    ],
) -> None:
    """Print the normalised checkpoints and resulting status of a payload as JSON."""
    adapter = tracking_registry.get(source)
    if adapter is None:
        raise context.fail(
            f"unknown source {source!r}; known: {', '.join(sorted(tracking_registry.SOURCES))}"
        )
    try:
        parsed = adapter.parse(file.read_bytes())
    except (Unsupported, ValueError, ValidationError) as exc:
        raise context.fail(f"{file} is not a {source} payload Doorstep can read: {exc}") from exc
    updates: list[dict[str, Any]] = []
    for update in parsed.updates:
        scans = [
            Scan(
                cp.occurred_at, cp.status, cp.substatus,
                derive_fingerprint(cp.occurred_at, cp.raw_code or cp.status, cp.message, cp.city, cp.postal_code, cp.country),
            )
            for cp in update.checkpoints
        ]  # fmt: skip
        state = derive_state(scans)
        updates.append(
            {
                "tracking_number": update.tracking_number,
                "carrier": carriers.normalize(update.carrier) or update.carrier,
                "status": state.status.value,
                "substatus": state.substatus.value if state.substatus else None,
                "estimated_delivery_on": update.estimated_delivery_on.isoformat()
                if update.estimated_delivery_on
                else None,
                "checkpoints": [cp.model_dump(mode="json") for cp in update.checkpoints],
            }
        )
    out = {
        "source": source,
        "updates": updates,
        "ignored": parsed.ignored,
        "errors": parsed.errors,
        "unknown_codes": parsed.unknown_codes,
    }
    sys.stdout.write(json.dumps(out, indent=2, ensure_ascii=False) + "\n")


@tracking.command("detect")
def detect(number: Annotated[str, typer.Argument(help="A tracking number.")]) -> None:
    """Print the carrier(s) a tracking number belongs to, most likely first, with tracking links."""
    found = carriers.detect(number)
    if not found:
        raise context.fail(f"{number} matches no known carrier's number format")
    for slug in found:
        context.console.print(f"{slug}\t{carriers.tracking_url(slug, number) or ''}", markup=False)


@tracking.command("sweep")
def sweep(ctx: typer.Context, store: Annotated[str, typer.Option(help="Store slug.")]) -> None:
    """Flag parcels now past their promise or stalled (the worker runs this periodically)."""
    app = context.get(ctx)
    try:
        with transaction(app.factory) as session:
            owner = store_service.get_store_by_slug(session, slug=store)
            names = shipment_service.check_overdue_and_stalled(session, store_id=owner.id, now=clock.now())
    except DoorstepError as exc:
        raise context.fail(exc) from exc
    context.console.print(f"{len(names)} new milestone(s): {', '.join(names) or '-'}")


@connections.command("set")
def set_connection(
    ctx: typer.Context,
    store: Annotated[str, typer.Option(help="Store slug.")],
    provider: Annotated[str, typer.Option(help="e.g. shopify, easypost, aftership, ups.")],
    config: Annotated[str, typer.Option(help='JSON object, e.g. {"webhook_secret": "…"}.')],
) -> None:
    """Connect a provider: its credentials are validated by the adapter and stored encrypted."""
    app = context.get(ctx)
    refunds = refund_webhook.CHANNEL if provider == refund_webhook.NAME else None
    adapter = commerce_registry.SOURCES.get(provider) or tracking_registry.get(provider) or refunds
    if adapter is None:
        raise context.fail(f"unknown provider {provider!r}")
    try:
        validated = adapter.config_model.model_validate(json.loads(config))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise context.fail(f"invalid {provider} configuration: {exc}") from exc
    values = {
        name: (value.get_secret_value() if hasattr(value, "get_secret_value") else value)
        for name, value in validated
    }
    try:
        with transaction(app.factory) as session:
            owner = store_service.get_store_by_slug(session, slug=store)
            secret = app.settings.security.secret_key.get_secret_value()
            store_service.set_connection(
                session, store_id=owner.id, provider=provider, config=values, secret=secret
            )
    except DoorstepError as exc:
        raise context.fail(exc) from exc
    base = app.settings.base_url.rstrip("/")
    hook = (
        f"{base}/hooks/shopify/{store}"
        if provider in commerce_registry.SOURCES
        else f"{base}/hooks/tracking/{provider}/{store}"
    )
    if provider == refund_webhook.NAME:
        context.console.print(f"connected {provider} for {store}: refunds are POSTed to {values['url']}")
        return
    context.console.print(f"connected {provider} for {store}; webhook URL: {hook}")


@connections.command("list")
def list_connections(ctx: typer.Context, store: Annotated[str, typer.Option(help="Store slug.")]) -> None:
    """List the providers a store has connected (never their secrets)."""
    app = context.get(ctx)
    try:
        with transaction(app.factory) as session:
            owner = store_service.get_store_by_slug(session, slug=store)
            names = store_service.list_connections(session, store_id=owner.id)
    except DoorstepError as exc:
        raise context.fail(exc) from exc
    context.console.print("\n".join(names) or "(none)")
