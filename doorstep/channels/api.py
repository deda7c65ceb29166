"""/api/v1/channels: connect the providers that carry a store's messages (SMTP, Twilio, WhatsApp, Klaviyo…).

Settings are validated by the channel's own model (422 naming each field), stored encrypted, and only
ever returned with secrets masked.
"""

from typing import Any

from fastapi import APIRouter, Body, Response

from doorstep.channels import service as channel_service
from doorstep.channels.schemas import ChannelList, ChannelRead
from doorstep.db import transaction
from doorstep.web.deps import AppSettings, CurrentStore, Db

router = APIRouter(prefix="/channels", tags=["channels"])


@router.get("")
def list_channels(db: Db, settings: AppSettings, store: CurrentStore) -> ChannelList:
    """Every channel Doorstep knows, whether this store connected it, and the settings each expects."""
    secret = settings.security.secret_key.get_secret_value()
    with transaction(db) as session:
        rows = channel_service.list_channels(session, store_id=store.id, secret=secret)
        return ChannelList(data=[ChannelRead(**r) for r in rows])


@router.put("/{name}")
def connect_channel(
    name: str, db: Db, settings: AppSettings, store: CurrentStore, body: dict[str, Any] = Body(...)
) -> ChannelRead:
    """Connect (or reconnect) a channel with its settings, e.g. for smtp ``{"host": "smtp.postmarkapp.com",
    "port": 587, "username": "…", "password": "…", "from_email": "orders@brand.com"}``."""
    secret = settings.security.secret_key.get_secret_value()
    with transaction(db) as session:
        row = channel_service.connect(session, store_id=store.id, name=name, settings=body, secret=secret)
        return ChannelRead(**row)


@router.delete("/{name}", status_code=204)
def disconnect_channel(name: str, db: Db, store: CurrentStore) -> Response:
    """Forget a channel's settings; messages of its kinds fall back to the next connected channel."""
    with transaction(db) as session:
        channel_service.disconnect(session, store_id=store.id, name=name)
    return Response(status_code=204)
