"""A flow as data: the shape of ``defaults.yaml``, of ``PUT /api/v1/flows/{key}`` and of a stored override.

A flow is a trigger milestone, conditions on the order/parcel/shopper, steps run in order (waits, sends,
webhooks) and exit milestones that stop whatever has not been sent yet. Every failure names the field and
the fix, so a merchant editing a flow through the API knows what to send instead.
"""

import re
from datetime import time, timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from doorstep import milestones

# The kinds a shopper receives (doorstep.integrations.channels.protocol.Kind, which flows may not import).
SEND_KINDS = ("email", "sms", "whatsapp")
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _problem(message: str, fix: str) -> PydanticCustomError:
    return PydanticCustomError("doorstep", message, {"fix": fix})


def parse_duration(value: str) -> timedelta:
    """``90m``, ``2h``, ``1d12h`` → a timedelta (days, hours, minutes; at least one, nothing else)."""
    match = _DURATION.match(value.strip()) if value else None
    if not value or match is None or not any(match.groups()):
        raise _problem(
            f"{value!r} is not a duration", "write days, hours and minutes such as 30m, 2h or 1d12h"
        )
    days, hours, minutes = (int(g or 0) for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes)


class Segment(StrEnum):
    new = "new"  # the shopper's first order in this store
    returning = "returning"  # the shopper ordered before


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Conditions(_Strict):
    """All given conditions must hold (AND); an empty set always matches."""

    min_order_value_minor: int | None = Field(
        None, ge=0, description="Order total at least this, in minor units of the order's currency."
    )
    max_order_value_minor: int | None = Field(
        None, ge=0, description="Order total at most this (minor units)."
    )
    countries: tuple[str, ...] = Field((), description="Shipping country is one of these (ISO alpha-2).")
    exclude_countries: tuple[str, ...] = Field((), description="Shipping country is none of these.")
    tags_any: tuple[str, ...] = Field((), description="The order carries at least one of these tags.")
    tags_none: tuple[str, ...] = Field((), description="The order carries none of these tags.")
    carriers: tuple[str, ...] = Field((), description="The parcel's carrier is one of these (e.g. ups).")
    segment: Segment | None = Field(None, description="new (first order) or returning shopper.")
    channel_available: str | None = Field(
        None, description="The shopper can be reached on this kind (contact point and consent): email, sms…"
    )

    @field_validator("countries", "exclude_countries")
    @classmethod
    def _countries(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for code in value:
            if len(code) != 2 or not code.isalpha():
                raise _problem(f"{code!r} is not an ISO 3166-1 alpha-2 country", "use two letters such as US")
        return tuple(c.upper() for c in value)

    @field_validator("carriers")
    @classmethod
    def _carriers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(c.strip().lower() for c in value)

    @field_validator("channel_available")
    @classmethod
    def _kind(cls, value: str | None) -> str | None:
        if value is not None and value not in SEND_KINDS:
            raise _problem(f"{value!r} is not a channel kind", f"use one of {', '.join(SEND_KINDS)}")
        return value

    @model_validator(mode="after")
    def _range(self) -> "Conditions":
        low, high = self.min_order_value_minor, self.max_order_value_minor
        if low is not None and high is not None and low > high:
            raise _problem(
                "min_order_value_minor is above max_order_value_minor", "make the minimum at most the maximum"
            )
        return self


class BusinessHours(_Strict):
    start: int = Field(9, ge=0, le=23, description="First hour (local) of business hours.")
    end: int = Field(17, ge=1, le=24, description="Hour (local) business hours end.")
    days: tuple[str, ...] = Field(WEEKDAYS[:5], description="Business days: mon … sun.")

    @field_validator("days")
    @classmethod
    def _days(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        days = tuple(d.lower()[:3] for d in value)
        for day in days:
            if day not in WEEKDAYS:
                raise _problem(f"{day!r} is not a weekday", "use mon, tue, wed, thu, fri, sat or sun")
        if not days:
            raise _problem("no business day", "list at least one day")
        return days

    @model_validator(mode="after")
    def _order(self) -> "BusinessHours":
        if self.start >= self.end:
            raise _problem(
                "start is not before end", "business hours must start before they end, e.g. 9 to 17"
            )
        return self


class Remedy(_Strict):
    code: str | None = Field(None, max_length=64, description="e.g. a discount code: SORRY10.")
    description: str = Field(max_length=200, description="e.g. 10% off your next order.")


class Step(_Strict):
    """Exactly one of: ``wait``, ``wait_until``, ``wait_business_hours``, ``send``, ``webhook``."""

    wait: str | None = Field(None, description="Wait a duration: 30m, 2h, 1d12h.")
    wait_until: time | None = Field(None, description="Wait until this local time of day (shopper's zone).")
    wait_business_hours: BusinessHours | None = Field(
        None, description="Wait until business hours in the shopper's zone (now, if already within)."
    )
    send: tuple[str, ...] | None = Field(
        None, description="Channel kinds in preference order; the first the shopper can receive is used."
    )
    id: str | None = Field(
        None, pattern=r"^[a-z0-9_-]{1,32}$", description="Names a second send step of one flow (its key)."
    )
    template: str | None = Field(
        None, pattern=r"^[a-z0-9_.]{1,64}$", description="Template to render (default: the flow's trigger)."
    )
    remedy: Remedy | None = Field(None, description="A remedy offered in the message, e.g. a discount code.")
    webhook: str | None = Field(
        None, description="Call this outbound webhook endpoint (its id), signed (Standard Webhooks)."
    )

    @field_validator("wait")
    @classmethod
    def _wait(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @field_validator("send")
    @classmethod
    def _send(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        if not value:
            raise _problem("no channel", "list channel kinds in preference order, e.g. [sms, email]")
        for kind in value:
            if kind not in SEND_KINDS:
                raise _problem(f"{kind!r} is not a channel kind", f"use one of {', '.join(SEND_KINDS)}")
        if len(set(value)) != len(value):
            raise _problem("a channel is listed twice", "list each channel kind once")
        return value

    @model_validator(mode="after")
    def _one_action(self) -> "Step":
        given = [
            name
            for name in ("wait", "wait_until", "wait_business_hours", "send", "webhook")
            if getattr(self, name) is not None
        ]
        if len(given) != 1:
            raise _problem(
                f"a step must do exactly one thing, got {given or 'nothing'}",
                "write one of wait, wait_until, wait_business_hours, send or webhook per step",
            )
        if (self.remedy is not None or self.template is not None) and self.send is None:
            raise _problem("remedy or template without send", "put remedy and template on a send step")
        return self

    @property
    def duration(self) -> timedelta | None:
        return parse_duration(self.wait) if self.wait is not None else None


def _known_milestone(name: str) -> str:
    if name not in milestones.MILESTONES:
        known = ", ".join(sorted(milestones.MILESTONES))
        raise _problem(f"{name!r} is not a milestone", f"use one of: {known}")
    return name


Milestone = Annotated[str, Field(max_length=64)]


class FlowDefinition(_Strict):
    """One flow. ``trigger`` is the milestone it reacts to; ``exit_on`` stops its pending sends."""

    trigger: Milestone = Field(description="The milestone that starts the flow, e.g. shipment.delivered.")
    enabled: bool = Field(True, description="Disabled flows never start.")
    description: str = Field("", max_length=500, description="What the flow is for, for people.")
    conditions: Conditions = Field(default_factory=Conditions)
    steps: tuple[Step, ...] = Field(min_length=1, description="Run in order: waits delay what follows.")
    exit_on: tuple[Milestone, ...] = Field(
        (), description="Milestones (on the same parcel or order) that cancel sends not yet made."
    )

    @field_validator("trigger")
    @classmethod
    def _trigger(cls, value: str) -> str:
        return _known_milestone(value)

    @field_validator("exit_on")
    @classmethod
    def _exits(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_known_milestone(name) for name in value)

    @model_validator(mode="after")
    def _shape(self) -> "FlowDefinition":
        if not any(s.send is not None or s.webhook is not None for s in self.steps):
            raise _problem("the flow never sends anything", "add a send or webhook step")
        if self.steps[-1].send is None and self.steps[-1].webhook is None:
            raise _problem("the flow ends with a wait", "remove the trailing wait or add a step after it")
        names = [step_name(s) for s in self.steps if s.send is not None]
        if len(set(names)) != len(names):
            raise _problem(
                "two send steps would share one message key", "give the later send step a distinct id"
            )
        if self.trigger in self.exit_on:
            raise _problem("the trigger is also an exit", "remove the trigger from exit_on")
        return self


def step_name(step: Step) -> str:
    """The step's part of the message key: its kinds (``sms+email``) plus its id when it has one."""
    assert step.send is not None
    kinds = "+".join(step.send)
    return f"{kinds}:{step.id}" if step.id else kinds


FlowKey = Annotated[str, Field(pattern=r"^[a-z0-9_.-]{1,64}$")]


class FlowProblem(BaseModel):
    field: str = Field(description="Where, e.g. definition.steps.1.webhook.")
    message: str
    fix: str


class FlowRead(BaseModel):
    key: str
    source: str = Field(description="default (shipped in defaults.yaml) or store (this store's own).")
    definition: FlowDefinition
    updated_at: str | None = None
    problems: list[FlowProblem] = Field(
        default_factory=list,
        description="What the steps name that does not exist now (a webhook endpoint deleted since the flow "
        "was saved): such a step fails its messages or deliveries until the flow is fixed. Empty when sound.",
    )


class FlowList(BaseModel):
    data: list[FlowRead]


def definition_from(raw: dict[str, Any]) -> FlowDefinition:
    return FlowDefinition.model_validate(raw)
