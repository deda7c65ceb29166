"""Connect, inspect and disconnect a store's channels. Credentials are validated by the channel's own
``Config`` model and stored sealed (``stores.service.set_connection``); they are never returned unmasked."""

from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from doorstep.core.errors import NotFound, invalid_from_validation
from doorstep.integrations.channels import registry
from doorstep.stores import service as store_service


def _config_model(name: str) -> tuple[type[BaseModel], list[str]]:
    channel = registry.CHANNELS.get(name)
    if channel is not None:
        return channel.Config, sorted(k.value for k in channel.kinds)
    publisher = registry.PUBLISHERS.get(name)
    if publisher is not None:
        return publisher.Config, []
    known = ", ".join([*registry.CHANNELS, *registry.PUBLISHERS])
    raise NotFound(f"no channel named {name!r}: use one of {known}")


def describe(session: Session, *, store_id: int, name: str, secret: str) -> dict[str, Any]:
    model, kinds = _config_model(name)
    stored = store_service.get_connection(session, store_id=store_id, provider=name, secret=secret)
    masked = model.model_validate(stored).model_dump(mode="json") if stored is not None else None
    return {
        "name": name,
        "kinds": kinds,
        "connected": stored is not None,
        "config": masked,
        "config_schema": model.model_json_schema(),
    }


def list_channels(session: Session, *, store_id: int, secret: str) -> list[dict[str, Any]]:
    names = [*registry.CHANNELS, *registry.PUBLISHERS]
    return [describe(session, store_id=store_id, name=name, secret=secret) for name in names]


def connect(
    session: Session, *, store_id: int, name: str, settings: dict[str, Any], secret: str
) -> dict[str, Any]:
    """Validate and store a channel's settings (replacing earlier ones); 422 naming each bad field."""
    model, _ = _config_model(name)
    try:
        config = model.model_validate(settings)
    except ValidationError as exc:
        raise invalid_from_validation([dict(e) for e in exc.errors()]) from exc
    raw = {k: v.get_secret_value() if hasattr(v, "get_secret_value") else v for k, v in config}
    store_service.set_connection(session, store_id=store_id, provider=name, config=_plain(raw), secret=secret)
    return describe(session, store_id=store_id, name=name, secret=secret)


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v if isinstance(v, str | int | float | bool) or v is None else str(v) for k, v in values.items()
    }


def disconnect(session: Session, *, store_id: int, name: str) -> None:
    _config_model(name)
    store_service.remove_connection(session, store_id=store_id, provider=name)
