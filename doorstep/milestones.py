"""The milestone registry: facts about state transitions, emitted at most once per subject.

One line each: name, subject kind, meaning, and the milestones it supersedes (a later one makes the
earlier message pointless, e.g. never send "out for delivery" after "delivered").
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Milestone:
    name: str
    subject: str
    meaning: str
    supersedes: tuple[str, ...] = ()
    is_key_moment: bool = False


_ALL = (
    Milestone("order.placed", "order", "the order was placed", is_key_moment=True),
    Milestone("order.cancelled", "order", "the order was cancelled", is_key_moment=True),
    Milestone("shipment.label_created", "shipment", "the carrier has the parcel's details"),
    Milestone("shipment.shipped", "shipment", "the carrier has the parcel", ("shipment.label_created",), True),
    Milestone(
        "shipment.out_for_delivery", "shipment", "the parcel is on the vehicle for delivery today",
        ("shipment.label_created", "shipment.shipped"), True,
    ),
    Milestone(
        "shipment.attempt_failed", "shipment", "a delivery attempt failed",
        ("shipment.out_for_delivery",), True,
    ),
    Milestone(
        "shipment.available_for_pickup", "shipment", "the parcel waits at a pickup point",
        ("shipment.out_for_delivery", "shipment.attempt_failed"), True,
    ),
    Milestone(
        "shipment.delivered", "shipment", "the parcel was delivered",
        (
            "shipment.label_created", "shipment.shipped", "shipment.out_for_delivery",
            "shipment.attempt_failed", "shipment.available_for_pickup", "shipment.delayed",
            "shipment.stalled", "shipment.exception",
        ),
        True,
    ),
    Milestone("shipment.exception", "shipment", "the carrier reported a problem", is_key_moment=True),
    Milestone("shipment.delayed", "shipment", "expected delivery moved past the promise", is_key_moment=True),
    Milestone("shipment.stalled", "shipment", "no carrier scan for too long", is_key_moment=True),
    Milestone(
        "shipment.returned", "shipment", "the parcel went back to the sender",
        ("shipment.out_for_delivery", "shipment.attempt_failed", "shipment.exception"), True,
    ),
    Milestone("refund.issued", "refund", "money was returned to the shopper", is_key_moment=True),
    # returns (doorstep/returns/lifecycle.py) and package-protection claims
    Milestone("return.requested", "return", "the shopper asked to return items", is_key_moment=True),
    Milestone("return.approved", "return", "the store accepted the return", is_key_moment=True),
    Milestone("return.label_issued", "return", "the return label or drop-off code is ready", is_key_moment=True),
    Milestone("return.in_transit", "return", "the return parcel is on its way back", ("return.label_issued",)),
    Milestone(
        "return.received", "return", "the store received the returned items",
        ("return.label_issued", "return.in_transit"), True,
    ),
    Milestone(
        "return.resolved", "return", "the return was settled (refund, credit, exchange or keep-it)",
        ("return.requested", "return.approved", "return.label_issued", "return.in_transit", "return.received"),
        True,
    ),
    Milestone(
        "return.rejected", "return", "the store turned the return down, with a reason",
        ("return.requested", "return.approved", "return.label_issued", "return.in_transit", "return.received"),
        True,
    ),
    Milestone("claim.filed", "claim", "a package-protection claim was filed", is_key_moment=True),
    Milestone("claim.resolved", "claim", "a claim was settled (reship, refund or declined)", ("claim.filed",), True),
)  # fmt: skip

MILESTONES: dict[str, Milestone] = {m.name: m for m in _ALL}


def get(name: str) -> Milestone:
    return MILESTONES[name]
