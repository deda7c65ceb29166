"""The returns portal's words: reasons, resolutions, methods, statuses and ineligibility in plain language.

Every value here is a message id of the Babel catalogs (``doorstep/locale``), translated per page by
``lang._``; codes stay codes in forms and URLs.
"""

from datetime import datetime

from doorstep.portal.i18n import Lang
from doorstep.returns.lifecycle import Status
from doorstep.returns.policy import Ineligible, Method, Reason, Resolution

REASONS: dict[Reason, str] = {
    Reason.too_small: "Too small",
    Reason.too_big: "Too big",
    Reason.damaged: "Arrived damaged",
    Reason.not_as_described: "Not as described",
    Reason.changed_mind: "Changed my mind",
    Reason.arrived_late: "Arrived too late",
    Reason.wrong_item: "Wrong item sent",
    Reason.other: "Another reason",
}

RESOLUTIONS: dict[Resolution, tuple[str, str]] = {
    Resolution.refund: ("Refund", "Money back to your original payment method."),
    Resolution.store_credit: (
        "Store credit",
        "A code to spend in the store, available as soon as we approve.",
    ),
    Resolution.exchange: ("Exchange", "Another size or colour, shipped now, before yours comes back."),
    Resolution.keep: ("Keep the item", "You get your money back and don't need to send anything."),
}

METHODS: dict[Method, tuple[str, str]] = {
    Method.label: ("Prepaid label", "Print a label (PDF) and drop the parcel off with the carrier."),
    Method.qr_dropoff: ("QR code, no printer", "Show a QR code at a drop-off point; they pack and label it."),
    Method.in_store: ("In store", "Bring the items to one of our stores and show your return code."),
    Method.none: ("Nothing to send", "You keep the item."),
}

# The shopper's view of the lifecycle: one step per status they care about.
STEPS: tuple[tuple[Status, str], ...] = (
    (Status.requested, "Requested"),
    (Status.approved, "Approved"),
    (Status.in_transit, "On its way back"),
    (Status.received, "Received"),
    (Status.resolved, "Done"),
)

HEADLINES: dict[Status, tuple[str, str]] = {
    Status.requested: (
        "Return requested",
        "The store is reviewing your request. We'll e-mail you when it is approved.",
    ),
    Status.approved: ("Return approved", "Send the items back as described below."),
    Status.label_issued: ("Return approved", "Send the items back as described below."),
    Status.in_transit: (
        "On its way back",
        "The carrier has your parcel. We'll let you know when it arrives.",
    ),
    Status.received: ("We received your return", "We are checking the items; this usually takes a few days."),
    Status.inspected: ("We checked your return", "Your refund, credit or exchange is being completed."),
    Status.resolved: ("Return complete", "Everything is settled."),
    Status.rejected: ("Return not accepted", ""),
}

INELIGIBLE: dict[Ineligible, str] = {
    Ineligible.final_sale: "This item was a final sale, so it cannot be returned.",
    Ineligible.window_closed: "The return window for this item closed on {day}.",
    Ineligible.already_returned: "Every unit of this item is already in a return.",
    Ineligible.order_cancelled: "This order was cancelled, so there is nothing to return.",
    Ineligible.not_returnable: "The store does not accept returns of this item.",
    Ineligible.not_fulfilled: "This item has not shipped yet; contact the store to cancel it instead.",
}


def ineligible(lang: Lang, reason: Ineligible | None, window_ends_at: datetime | None) -> str:
    if reason is None:
        return ""
    day = lang.day(lang.local_date(window_ends_at)) if window_ends_at else ""
    return (
        lang._(INELIGIBLE[reason], day=day)
        if reason is Ineligible.window_closed
        else lang._(INELIGIBLE[reason])
    )
