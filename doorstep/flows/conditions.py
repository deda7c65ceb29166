"""Whether a flow applies: pure functions of its conditions and the facts about one milestone's subject.

The facts are read once per milestone by :mod:`doorstep.flows.service` (order, parcel, shopper) and
passed in, so matching is testable without a database and costs nothing per flow.
"""

from dataclasses import dataclass, field

from doorstep.flows.schemas import Conditions, Segment


@dataclass(frozen=True)
class Facts:
    """What conditions may look at, for one milestone."""

    order_total_minor: int | None = None
    currency: str | None = None
    country: str | None = None  # shipping country, upper-case alpha-2
    tags: frozenset[str] = frozenset()
    carrier: str | None = None  # the parcel's carrier (shipment milestones only)
    segment: Segment | None = None  # None when the milestone has no shopper
    reachable: frozenset[str] = field(default_factory=frozenset)  # kinds with a contact point and consent
    time_zone: str | None = None  # the shopper's zone, else the store's


def mismatches(conditions: Conditions, facts: Facts) -> list[str]:
    """The conditions that do not hold, each as a short reason; empty means the flow applies."""
    failed: list[str] = []
    total = facts.order_total_minor
    if conditions.min_order_value_minor is not None and (
        total is None or total < conditions.min_order_value_minor
    ):
        failed.append(f"order value {total} below {conditions.min_order_value_minor}")
    if conditions.max_order_value_minor is not None and (
        total is None or total > conditions.max_order_value_minor
    ):
        failed.append(f"order value {total} above {conditions.max_order_value_minor}")
    if conditions.countries and facts.country not in conditions.countries:
        failed.append(f"country {facts.country} not in {list(conditions.countries)}")
    if conditions.exclude_countries and facts.country in conditions.exclude_countries:
        failed.append(f"country {facts.country} excluded")
    tags = {t.lower() for t in facts.tags}
    if conditions.tags_any and not tags & {t.lower() for t in conditions.tags_any}:
        failed.append(f"none of the tags {list(conditions.tags_any)}")
    if conditions.tags_none and tags & {t.lower() for t in conditions.tags_none}:
        failed.append(f"a tag in {list(conditions.tags_none)}")
    if conditions.carriers and (facts.carrier or "").lower() not in conditions.carriers:
        failed.append(f"carrier {facts.carrier} not in {list(conditions.carriers)}")
    if conditions.segment is not None and facts.segment is not conditions.segment:
        failed.append(f"shopper is not {conditions.segment.value}")
    if conditions.channel_available is not None and conditions.channel_available not in facts.reachable:
        failed.append(f"shopper not reachable by {conditions.channel_available}")
    return failed


def matches(conditions: Conditions, facts: Facts) -> bool:
    return not mismatches(conditions, facts)
