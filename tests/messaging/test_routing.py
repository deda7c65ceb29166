"""Routing: a store's connected channel for each kind, devbox only where enabled, clear reasons otherwise."""

import pytest
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from doorstep.config import ChannelSettings, Environment, SecuritySettings, Settings
from doorstep.db import transaction
from doorstep.integrations.channels.protocol import Kind
from doorstep.messaging import routing
from doorstep.stores import service as store_service
from tests.conftest import TEST_SECRET
from tests.factories.stores import StoreWithKey

SMTP = {"host": "smtp.example.com", "port": 587, "from_email": "orders@acme.example", "from_name": "Acme"}


def _settings(base: Settings, devbox: bool | None) -> Settings:
    return base.model_copy(update={"channels": ChannelSettings(devbox=devbox)})


def test_connected_channels_win_and_devbox_fills_the_gaps_only_when_enabled(
    factory: sessionmaker[Session], settings: Settings, store: StoreWithKey
) -> None:
    with transaction(factory) as session:
        store_service.set_connection(
            session, store_id=store.id, provider="smtp", config=SMTP, secret=TEST_SECRET
        )
    on, off = _settings(settings, True), _settings(settings, False)
    with transaction(factory) as session:
        email = routing.route(session, store_id=store.id, kind=Kind.email, settings=on)
        assert (email.name, email.sender) == ("smtp", "Acme <orders@acme.example>")
        sms = routing.route(session, store_id=store.id, kind=Kind.sms, settings=on)
        assert sms.name == "devbox"
        with pytest.raises(routing.NoRoute, match="no sms channel"):
            routing.route(session, store_id=store.id, kind=Kind.sms, settings=off)
        assert routing.available_kinds(session, store_id=store.id, settings=off) == {Kind.email}
        assert routing.available_kinds(session, store_id=store.id, settings=on) == set(Kind)


def test_devbox_defaults_to_dev_only() -> None:
    assert Settings(env=Environment.dev).devbox_enabled is True
    prod = Settings(env=Environment.prod, security=SecuritySettings(secret_key=SecretStr("x" * 40)))
    assert prod.devbox_enabled is False
    assert prod.model_copy(update={"channels": ChannelSettings(devbox=True)}).devbox_enabled is True


def test_a_broken_connection_is_a_reason_not_a_crash(
    factory: sessionmaker[Session], settings: Settings, store: StoreWithKey
) -> None:
    with transaction(factory) as session:
        store_service.set_connection(
            session,
            store_id=store.id,
            provider="twilio_sms",
            config={"account_sid": "AC-nope"},
            secret=TEST_SECRET,
        )
    with (
        transaction(factory) as session,
        pytest.raises(routing.NoRoute, match="twilio_sms connection is invalid"),
    ):
        routing.route(session, store_id=store.id, kind=Kind.sms, settings=_settings(settings, False))
