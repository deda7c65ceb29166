"""Stores and API keys: the only writer of stores and api_keys."""

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from doorstep.core import clock, crypto, ids
from doorstep.core.errors import Conflict, NotFound
from doorstep.core.hashing import constant_time_equal, sha256_hex
from doorstep.core.tenancy import scoped
from doorstep.stores import branding
from doorstep.stores.commands import CreateStore, UpdateBranding
from doorstep.stores.models import ApiKey, Store, StoreConnection

KEY_PREFIX = "dsk"
# last_used_at is a hint for operators, not an audit log: write it at most once a minute per key.
_TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    secret: str  # the full key, shown once and never stored


def create_store(session: Session, *, cmd: CreateStore) -> Store:
    store = Store(public_id=ids.new_id("sto"), branding={}, policies={}, **cmd.model_dump())
    session.add(store)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise Conflict(f"a store with slug {cmd.slug!r} already exists") from exc
    return store


def list_stores(session: Session) -> list[Store]:
    return list(session.scalars(select(Store).order_by(Store.id)))


def get_store_by_slug(session: Session, *, slug: str) -> Store:
    store = session.scalars(select(Store).where(Store.slug == slug)).one_or_none()
    if store is None:
        raise NotFound(f"store {slug!r} not found")
    return store


def create_api_key(session: Session, *, store_id: int, name: str) -> IssuedKey:
    lookup = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(
        public_id=ids.new_id("key"),
        store_id=store_id,
        name=name,
        lookup=lookup,
        secret_hash=sha256_hex(secret.encode()),
    )
    session.add(key)
    session.flush()
    return IssuedKey(key=key, secret=f"{KEY_PREFIX}_{lookup}_{secret}")


def list_api_keys(session: Session, *, store_id: int) -> list[ApiKey]:
    return list(session.scalars(scoped(select(ApiKey), ApiKey, store_id).order_by(ApiKey.id)))


def revoke_api_key(session: Session, *, key_id: str) -> ApiKey:
    """Revoke by public id (``key_…``) or by the displayed prefix (``dsk_<lookup>``)."""
    lookup = key_id.removeprefix(f"{KEY_PREFIX}_") if key_id.startswith(f"{KEY_PREFIX}_") else None
    column = ApiKey.lookup if lookup else ApiKey.public_id
    key = session.scalars(select(ApiKey).where(column == (lookup or key_id))).one_or_none()
    if key is None:
        raise NotFound(f"API key {key_id} not found")
    if key.revoked_at is None:
        key.revoked_at = clock.now()
        session.flush()
    return key


def authenticate(session: Session, *, token: str) -> Store | None:
    """The store a bearer key belongs to, or None. Says nothing about which part was wrong."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        return None
    _, lookup, secret = parts
    row = session.execute(
        select(ApiKey, Store).join(Store, Store.id == ApiKey.store_id).where(ApiKey.lookup == lookup)
    ).one_or_none()
    if row is None:
        # Same work as a real check so timing does not reveal whether the lookup exists.
        constant_time_equal(sha256_hex(secret.encode()), "0" * 64)
        return None
    key, store = row
    if not constant_time_equal(sha256_hex(secret.encode()), key.secret_hash) or key.revoked_at is not None:
        return None
    now = clock.now()
    if key.last_used_at is None or now - key.last_used_at > _TOUCH_EVERY:
        session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now))
    return store


def get_store(session: Session, *, store_id: int) -> Store:
    store = session.get(Store, store_id)
    if store is None:
        raise NotFound("store not found")
    return store


@dataclass(frozen=True)
class BrandingUpdated:
    store: Store
    removed_css: list[str]  # what sanitising took out of the custom CSS, for the merchant


def update_branding(session: Session, *, store_id: int, cmd: UpdateBranding) -> BrandingUpdated:
    """Merge the fields sent into the store's branding (``null`` clears); custom CSS is sanitised."""
    store = get_store(session, store_id=store_id)
    merged = dict(store.branding)
    removed: list[str] = []
    for name in cmd.model_fields_set - {"hostname"}:
        value = getattr(cmd, name)
        if name == "custom_css" and value:
            cleaned = branding.sanitize_css(value)
            value, removed = cleaned.css, cleaned.removed
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    store.branding = merged
    if "hostname" in cmd.model_fields_set:
        store.hostname = cmd.hostname
    store.updated_at = clock.now()
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise Conflict(f"the hostname {cmd.hostname!r} already serves another store") from exc
    return BrandingUpdated(store, removed)


def get_store_by_hostname(session: Session, *, hostname: str) -> Store | None:
    """The store whose custom domain is ``hostname`` (shopper pages on a merchant's own domain)."""
    return session.scalars(select(Store).where(Store.hostname == hostname.lower())).one_or_none()


def get_store_by_public_id(session: Session, *, public_id: str) -> Store | None:
    """The store with this public id (its theme stylesheet's URL names it), or None."""
    return session.scalars(select(Store).where(Store.public_id == public_id)).one_or_none()


def set_connection(
    session: Session, *, store_id: int, provider: str, config: dict[str, Any], secret: str
) -> None:
    """Store (or replace) a provider's credentials for a store, sealed with the server secret.

    The caller validates ``config`` with the adapter's Config model first (services know no adapters).
    """
    stmt = scoped(select(StoreConnection), StoreConnection, store_id).where(
        StoreConnection.provider == provider
    )
    row = session.scalars(stmt).one_or_none()
    if row is None:
        row = StoreConnection(store_id=store_id, provider=provider, sealed_config="")
        session.add(row)
    row.sealed_config = crypto.seal(config, secret)
    row.is_enabled = True
    session.flush()


def get_connection(session: Session, *, store_id: int, provider: str, secret: str) -> dict[str, Any] | None:
    """The stored credentials for a provider, or None when the store has not connected it."""
    stmt = scoped(select(StoreConnection), StoreConnection, store_id).where(
        StoreConnection.provider == provider, StoreConnection.is_enabled.is_(True)
    )
    row = session.scalars(stmt).one_or_none()
    return crypto.unseal(row.sealed_config, secret) if row else None


def sealed_connections(session: Session, *, store_id: int) -> dict[str, str | None]:
    """Every provider the store connected, with its still-sealed config (None while disabled): one query
    and no decryption, for callers that unseal once per distinct sealed value (each save seals anew)."""
    stmt = scoped(
        select(StoreConnection.provider, StoreConnection.sealed_config, StoreConnection.is_enabled),
        StoreConnection,
        store_id,
    )
    return {provider: sealed if enabled else None for provider, sealed, enabled in session.execute(stmt)}


def list_connections(session: Session, *, store_id: int) -> list[str]:
    stmt = scoped(select(StoreConnection.provider), StoreConnection, store_id)
    return list(session.scalars(stmt.order_by(StoreConnection.provider)))


def remove_connection(session: Session, *, store_id: int, provider: str) -> bool:
    """Forget a provider's credentials for a store; returns whether there were any."""
    stmt = scoped(select(StoreConnection), StoreConnection, store_id).where(
        StoreConnection.provider == provider
    )
    row = session.scalars(stmt).one_or_none()
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True
