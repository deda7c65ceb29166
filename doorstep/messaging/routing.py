"""Which channel carries a kind for a store: the store's connected provider, else devbox where allowed.

``route`` is read-only and does no I/O. It returns the channel, its validated per-store ``Config`` and
the sender (From address or sending number). A store with no usable channel for a kind gets
:class:`NoRoute` with the reason, which messaging records on the message (``suppressed: …``). devbox is
bound here to the caller's database, so the outbox it fills is the app's own.

Call ``route.channel.send`` outside any open transaction: it is I/O (devbox writes its outbox row in
its own short transaction).
"""

from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol, cast

from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session, sessionmaker

from doorstep.config import Settings
from doorstep.core import crypto
from doorstep.integrations.channels import devbox, registry
from doorstep.integrations.channels.protocol import Channel, Kind
from doorstep.outbox import service as outbox_service
from doorstep.stores import service as store_service


class NoRoute(Exception):
    """No channel can carry this kind for the store; ``reason`` is recorded on the message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _HasSender(Protocol):
    def sender_for(self, kind: Kind) -> str: ...


@dataclass(frozen=True)
class Route:
    channel: Channel
    config: BaseModel
    sender: str
    kind: Kind

    @property
    def name(self) -> str:
        return self.channel.name


def available_kinds(session: Session, *, store_id: int, settings: Settings) -> set[Kind]:
    """The kinds a store can send now (flows' "channel available" condition)."""
    kinds: set[Kind] = set()
    for kind in Kind:
        try:
            route(session, store_id=store_id, kind=kind, settings=settings)
        except NoRoute:
            continue
        kinds.add(kind)
    return kinds


def route(session: Session, *, store_id: int, kind: Kind, settings: Settings) -> Route:
    """The store's channel for ``kind``, in the registry's preference order. Raises :class:`NoRoute`."""
    secret = settings.security.secret_key.get_secret_value()
    connected = store_service.sealed_connections(session, store_id=store_id)
    problems: list[str] = []
    for name in registry.PREFERENCE[kind]:
        channel = registry.get(name)
        if channel is None or kind not in channel.kinds:
            continue
        if name == devbox.channel.name:
            if name not in connected and not settings.devbox_enabled:
                continue
            sealed = connected.get(name)
            box = _config(name, sealed, secret) if sealed is not None else devbox.Config()
            if not isinstance(box, devbox.Config):
                raise NoRoute(f"the devbox connection is invalid ({box}): reconnect it")
            bound = devbox.channel.bound(outbox_service.Sink(_factory_for(session)))
            return Route(bound, box, box.sender_for(kind), kind)
        sealed = connected.get(name)
        if sealed is None:
            continue  # not connected, or connected but disabled
        config = _config(name, sealed, secret)
        if isinstance(config, str):
            problems.append(f"the {name} connection is invalid ({config}): reconnect it")
            continue
        if name in registry.STATUS_CALLBACKS:
            # Where the provider posts delivery receipts (inbound.channel_status verifies the same URL).
            slug = store_service.get_store(session, store_id=store_id).slug
            url = f"{settings.base_url.rstrip('/')}/hooks/channels/{name}/{slug}"
            config = config.model_copy(update={"status_callback_url": url})
        return Route(channel, config, cast(_HasSender, config).sender_for(kind), kind)
    if problems:
        raise NoRoute("; ".join(problems))
    raise NoRoute(f"no {kind.value} channel is connected for this store")


@lru_cache(maxsize=512)
def _config(name: str, sealed: str, secret: str) -> BaseModel | str:
    """A stored connection unsealed and validated by its channel's ``Config`` (or why it is invalid), once
    per sealed value: saving a connection seals it anew, so a change is never served from here."""
    channel = registry.get(name)
    assert channel is not None, name
    try:
        return channel.Config.model_validate(crypto.unseal(sealed, secret))
    except ValidationError as exc:
        return str(exc.errors()[0]["msg"])


def _factory_for(session: Session) -> sessionmaker[Session]:
    return sessionmaker(bind=session.get_bind(), expire_on_commit=False)
