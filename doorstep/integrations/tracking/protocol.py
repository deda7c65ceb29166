"""The contract every tracking source implements, and the unified types it returns.

A source is one module with a docstring, a ``Config`` model (per-store credentials), a ``STATUS_MAP``
(every documented raw code → one (status, substatus)), private payload models, ``verify`` (constant-time),
a pure ``parse`` and, for carriers, a ``fetch`` that only does I/O (the raw answers, for the inbound log)
and a ``poll`` that hands each fetched body to ``parse``.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import httpx
from pydantic import BaseModel

from doorstep.shipments.commands import ApplyTracking
from doorstep.shipments.status import Status, Substatus

Mapped = tuple[Status, Substatus | None]


class Delivery(StrEnum):
    push = "push"  # the provider calls /hooks/tracking/{source}/{store}
    poll = "poll"  # Doorstep asks the provider's API on a schedule


class Unsupported(Exception):
    """An event type the source does not know and did not list as ignored: loud, never silent."""


@dataclass
class Parsed:
    """Errors as values: what could be read, plus a reason for everything that could not."""

    updates: list[ApplyTracking] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # e.g. "event tracker.created: nothing to track yet"
    errors: list[str] = field(default_factory=list)  # e.g. "1Z…: carrier says tracking number not found"
    unknown_codes: list[str] = field(default_factory=list)  # raw codes that fell back to a coarse category

    def merge(self, other: "Parsed") -> None:
        """Add another answer's results (a poll parses one answer per request or batch)."""
        self.updates.extend(other.updates)
        self.ignored.extend(other.ignored)
        self.errors.extend(other.errors)
        self.unknown_codes.extend(other.unknown_codes)


@dataclass(frozen=True)
class Fetched:
    """One carrier answer: the numbers it was asked for, the HTTP status and the raw body."""

    numbers: tuple[str, ...]
    status_code: int
    body: bytes


class NoConfig(BaseModel):
    """For sources that need no per-store credentials."""


class TrackingSource(Protocol):
    name: str
    title: str
    delivery: Delivery
    config_model: type[BaseModel]
    status_map: Mapping[str, Mapped]

    def verify(self, headers: Mapping[str, str], body: bytes, config: BaseModel) -> bool:
        """Is this request really from the provider? Constant-time comparison; headers are lower-case."""
        ...

    def parse(self, body: bytes) -> Parsed:
        """Pure: payload bytes → updates. Raises ``Unsupported`` for unknown event types, ``ValueError``
        for a body that is not the provider's format."""
        ...


class PollingSource(TrackingSource, Protocol):
    def fetch(self, client: httpx.Client, config: BaseModel, numbers: list[str]) -> list[Fetched]:
        """I/O only: ask the carrier about the given tracking numbers and return every answer raw, whatever
        its HTTP status (a "not found" answer is parsed into ``Parsed.errors``). Token requests are never
        returned: their bodies hold secrets. Raises when a token is refused."""
        ...

    def poll(self, client: httpx.Client, config: BaseModel, numbers: list[str]) -> Parsed:
        """``fetch`` the given tracking numbers and return ``parse`` of each answer, merged."""
        ...
