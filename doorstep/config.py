"""Settings: environment variables prefixed ``DOORSTEP_`` (nested sections use ``__``).

Nothing reads the environment at import time: build ``Settings()`` at an entry point and pass it down.
"""

from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Environment(StrEnum):
    dev = "dev"
    test = "test"
    prod = "prod"


def default_data_dir() -> Path:
    """Where the embedded SQLite file lives unless told otherwise (XDG data home)."""
    import os

    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "doorstep"


class ApiSettings(BaseModel):
    max_body_bytes: int = Field(
        1_048_576, description="Largest request body accepted by the API and webhooks, in bytes."
    )
    page_size_default: int = Field(50, description="Items per page when a list call sets no limit.")
    page_size_max: int = Field(200, description="Largest page a list call may ask for.")
    idempotency_wait_seconds: float = Field(
        5.0, description="How long a request waits for an in-flight twin with the same Idempotency-Key."
    )


class SecuritySettings(BaseModel):
    secret_key: SecretStr = Field(
        SecretStr("dev-insecure-secret-change-me"),
        description="Server secret for signing links and encrypting stored credentials. Required in prod.",
    )


class PortalSettings(BaseModel):
    lookup_attempts_per_ip: int = Field(
        10, description="Order lookups one client IP may try per window, per store."
    )
    lookup_attempts_per_order: int = Field(
        5, description="Order lookups allowed per order number per window, whoever tries."
    )
    lookup_window_seconds: float = Field(600.0, description="Length of the order lookup rate-limit window.")
    page_freshness_seconds: float = Field(
        1.0,
        ge=0,
        description=(
            "How long a tracking page read from the database may be served from memory without asking"
            " it again (per process). 0 reads on every view."
        ),
    )
    photo_max_bytes: int = Field(
        8_000_000, description="Largest evidence photo a shopper may upload (returns and claims), in bytes."
    )
    photos_per_item: int = Field(3, description="Photos a shopper may attach per returned item or per claim.")
    upload_max_request_bytes: int = Field(
        40_000_000, description="Largest photo-upload form (all photos together) the returns portal accepts."
    )


class ChannelSettings(BaseModel):
    devbox: bool | None = Field(
        None,
        description="Deliver messages into the local outbox (/dev/outbox) when a store has connected no "
        "provider for a kind. Empty means on when DOORSTEP_ENV=dev (and in doorstep demo), off otherwise.",
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DOORSTEP_", env_nested_delimiter="__", extra="ignore")

    env: Environment = Field(Environment.dev, description="dev, test or prod; prod refuses unsafe values.")
    debug: bool = Field(False, description="Verbose errors. Refused outside dev.")
    data_dir: Path = Field(
        default_factory=default_data_dir, description="Directory for the embedded SQLite database."
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db. Empty means SQLite in data_dir.",
    )
    base_url: str = Field("http://127.0.0.1:8000", description="Public base URL used in links and output.")
    host: str = Field("127.0.0.1", description="Address `doorstep serve` binds to.")
    port: int = Field(8000, description="Port `doorstep serve` binds to.")
    log_level: str = Field("info", description="Log level: debug, info, warning, error.")
    api: ApiSettings = Field(default_factory=ApiSettings, description="REST API limits.")
    security: SecuritySettings = Field(default_factory=SecuritySettings, description="Secrets.")
    portal: PortalSettings = Field(default_factory=PortalSettings, description="Shopper pages.")
    channels: ChannelSettings = Field(default_factory=ChannelSettings, description="Message channels.")

    @model_validator(mode="after")
    def _refuse_unsafe_outside_dev(self) -> "Settings":
        if self.env is not Environment.dev:
            secret = self.security.secret_key.get_secret_value()
            if not secret or "change-me" in secret or len(secret) < 32:
                raise ValueError(
                    f"DOORSTEP_SECURITY__SECRET_KEY must be set to 32+ random characters when DOORSTEP_ENV={self.env}"
                )
        if self.debug and self.env is not Environment.dev:
            raise ValueError("DOORSTEP_DEBUG is only allowed when DOORSTEP_ENV=dev")
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'doorstep.sqlite3'}"

    @property
    def devbox_enabled(self) -> bool:
        """Whether the local outbox may carry messages (explicit setting, else only in dev)."""
        if self.channels.devbox is not None:
            return self.channels.devbox
        return self.env is Environment.dev

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")
