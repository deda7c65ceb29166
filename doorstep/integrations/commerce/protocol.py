"""The contract every commerce platform implements, and the commands its ``parse`` returns.

A platform is one module with a docstring, a ``Config`` model (per-store credentials), a ``STATUS_MAP``
(its fulfillment tracking codes → one (status, substatus)), private payload models, an explicit
``TOPICS`` table plus ``IGNORED_TOPICS`` (anything else raises ``Unsupported``), a constant-time
``verify`` and a pure ``parse`` that turns one webhook body into domain commands.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from pydantic import BaseModel

from doorstep.customers.commands import UpsertCustomer
from doorstep.integrations.tracking.protocol import Unsupported
from doorstep.orders.commands import CancelOrderByRef, RecordRefund, UpsertOrder
from doorstep.shipments.commands import ApplyFulfillmentEvent, ApplyTracking, UpsertFulfillment

__all__ = ["Command", "CommerceSource", "Parsed", "Unsupported"]

# One webhook body becomes a few of these, applied in order by doorstep.inbound.commerce.
Command = (
    UpsertOrder
    | CancelOrderByRef
    | RecordRefund
    | UpsertCustomer
    | UpsertFulfillment
    | ApplyTracking
    | ApplyFulfillmentEvent
)


@dataclass
class Parsed:
    """Errors as values: the commands that could be read, plus a reason for everything that could not.

    ``errors`` means the payload's main object could not be turned into a command (the event is then
    rejected and replayable); ``ignored`` lists what was dropped or skipped while the rest went ahead.
    """

    commands: list[Command] = field(default_factory=list)
    ignored: list[str] = field(
        default_factory=list
    )  # e.g. "shipping_address.phone '555-555-SHIP' …: dropped"
    errors: list[str] = field(default_factory=list)  # e.g. "order 123: currency 'XX' is not ISO 4217"
    unknown_codes: list[str] = field(default_factory=list)  # raw codes that fell back to a coarse category


@runtime_checkable
class CommerceSource(Protocol):
    name: str
    title: str
    config_model: type[BaseModel]

    def verify(self, headers: Mapping[str, str], body: bytes, config: BaseModel) -> bool:
        """Is this request really from the platform? Constant-time comparison; headers are lower-case."""
        ...

    def idempotency_key(self, headers: Mapping[str, str]) -> str | None:
        """The platform's delivery id, the same on every retry of one delivery."""
        ...

    def topic(self, headers: Mapping[str, str]) -> str | None:
        """The platform's topic for this delivery (e.g. ``orders/create``), from the headers."""
        ...

    def parse(self, topic: str, body: bytes) -> Parsed:
        """Pure: topic + payload bytes → commands. Raises ``Unsupported`` for a topic that is neither
        handled nor listed as ignored, ``ValueError`` for a body that is not a JSON object."""
        ...
