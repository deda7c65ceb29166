"""The tracking page's view model, from plain facts about an order and its parcels (pure, no I/O).

``present(order, lang, now)`` decides what the shopper reads: the headline in plain words, the progress
steps, the expected delivery (a date or a window), the timeline in the shopper's zone and language, the
items per parcel, the partly masked address and pickup details. Unit-tested without HTTP.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

from doorstep.portal.i18n import Lang
from doorstep.shipments import carriers
from doorstep.shipments.status import TERMINAL, Status

Tone = Literal["ok", "warn", "problem", "done"]
StepState = Literal["done", "current", "problem", "todo"]

CARRIER_NAMES = {
    "ups": "UPS", "usps": "USPS", "fedex": "FedEx", "dhl": "DHL Express", "dhl-ecommerce": "DHL eCommerce",
    "dhl-paket": "DHL Paket", "deutsche-post": "Deutsche Post", "canada-post": "Canada Post",
    "royal-mail": "Royal Mail", "postnl": "PostNL", "ontrac": "OnTrac", "dpd": "DPD", "gls": "GLS",
    "la-poste": "La Poste", "colissimo": "Colissimo", "evri": "Evri", "amazon": "Amazon", "correos": "Correos",
    "australia-post": "Australia Post", "simulated": "Doorstep Express",
}  # fmt: skip


# --- facts (what the page is built from) -----------------------------------------------------------


@dataclass(frozen=True)
class ScanFact:
    occurred_at: datetime
    status: str
    substatus: str | None = None
    message: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None


@dataclass(frozen=True)
class ItemFact:
    title: str
    quantity: int
    variant_title: str | None = None
    image_url: str | None = None


@dataclass(frozen=True)
class ParcelFact:
    carrier: str
    tracking_number: str
    status: str = Status.pending.value
    substatus: str | None = None
    service: str | None = None
    tracking_url: str | None = None
    is_delayed: bool = False
    promised_on: date | None = None
    expected_on: date | None = None
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    signed_by: str | None = None
    scans: tuple[ScanFact, ...] = ()
    items: tuple[ItemFact, ...] = ()


@dataclass(frozen=True)
class OrderFact:
    number: str
    placed_at: datetime
    cancelled_at: datetime | None = None
    address: Mapping[str, Any] | None = None
    parcels: tuple[ParcelFact, ...] = ()
    unshipped: tuple[ItemFact, ...] = ()


# --- view model (what the template renders) --------------------------------------------------------


@dataclass(frozen=True)
class Headline:
    title: str
    detail: str
    tone: Tone


@dataclass(frozen=True)
class Step:
    label: str
    state: StepState


@dataclass(frozen=True)
class Entry:
    iso: str
    day: str
    time: str
    label: str
    message: str | None
    place: str | None
    is_latest: bool


@dataclass(frozen=True)
class Pickup:
    message: str | None
    place: str | None
    since: str


@dataclass(frozen=True)
class ParcelView:
    title: str
    headline: Headline
    steps: tuple[Step, ...]
    expected_label: str | None
    expected: str | None
    carrier: str
    service: str | None
    tracking_number: str
    carrier_url: str | None
    items: tuple[ItemFact, ...]
    timeline: tuple[Entry, ...]
    pickup: Pickup | None
    status: str


@dataclass(frozen=True)
class PageView:
    number: str
    placed: str
    headline: Headline
    parcels: tuple[ParcelView, ...]
    unshipped: tuple[ItemFact, ...]
    address: tuple[str, ...]
    steps: tuple[Step, ...] = field(default=())


# --- the rules -------------------------------------------------------------------------------------


def carrier_name(slug: str) -> str:
    return CARRIER_NAMES.get(slug, slug.replace("-", " ").title() if slug.islower() else slug)


def _relative(lang: Lang, day: date, today: date, *, today_s: str, tomorrow_s: str, other: str) -> str:
    if day == today:
        return lang._(today_s)
    if day == today + timedelta(days=1):
        return lang._(tomorrow_s)
    shown = lang.weekday(day) if today < day <= today + timedelta(days=6) else lang.day(day)
    return lang._(other, day=shown)


_STATUS_LABELS: dict[str, str] = {
    "pending": "Waiting for the carrier",
    "info_received": "Label created",
    "in_transit": "In transit",
    "out_for_delivery": "Out for delivery",
    "attempt_failed": "Delivery attempted",
    "available_for_pickup": "Ready for pickup",
    "delivered": "Delivered",
    "exception": "Problem reported",
    "returned": "Returned to sender",
    "expired": "No recent updates",
}

_EXCEPTIONS: dict[str | None, tuple[str, str]] = {
    "damaged": (
        "Your parcel was damaged",
        "The carrier reported damage. Contact us and we will arrange a replacement or a refund.",
    ),
    "lost": ("Your parcel may be lost", "The carrier cannot locate it. Contact us and we will sort it out."),
    "customs_hold": (
        "Held at customs",
        "Customs is checking your parcel. This usually takes a few days; you may be asked for documents or duties.",
    ),
    "address_issue": (
        "There is a problem with the address",
        "The carrier could not deliver to the address. Contact us to correct it.",
    ),
    "refused": ("Delivery was refused", "The parcel is coming back to us. Contact us if this was a mistake."),
    "returning_to_sender": (
        "Coming back to us",
        "The carrier is returning the parcel to us. Contact us about a refund or a new delivery.",
    ),
    "weather": (
        "Delayed by severe weather",
        "Weather is slowing deliveries. The carrier will continue as soon as it is safe.",
    ),
    None: (
        "There is a problem with your parcel",
        "The carrier reported an issue. We are watching it; contact us if you have questions.",
    ),
}

_DELIVERED_DETAIL: dict[str | None, str] = {
    "to_door": "Left at your door.",
    "to_neighbour": "Left with a neighbour.",
    "to_locker": "Delivered to a parcel locker.",
    "signed": "Signed for on delivery.",
    None: "Your parcel has arrived.",
}


def status_label(lang: Lang, status: str) -> str:
    return lang._(_STATUS_LABELS.get(status, "In transit"))


def _expected_day(parcel: ParcelFact) -> date | None:
    return parcel.expected_on or parcel.promised_on


def is_delayed(parcel: ParcelFact, today: date) -> bool:
    """Flagged by the tracking service, or visibly late: the carrier's date is past the promise."""
    if parcel.status in TERMINAL:
        return False
    promised, expected = parcel.promised_on, parcel.expected_on
    late = promised is not None and (
        (expected is not None and expected > promised) or (expected is None and today > promised)
    )
    return parcel.is_delayed or late


def _out_since_earlier_day(parcel: ParcelFact, lang: Lang, today: date) -> date | None:
    """The shopper's local day a parcel out for delivery went out, when that was before today (no scan
    since): "today" would then be a guess. None when it went out today, or is not out for delivery."""
    if parcel.status != "out_for_delivery":
        return None
    scan = max(
        (s for s in parcel.scans if s.status == "out_for_delivery"), key=lambda s: s.occurred_at, default=None
    )
    since = lang.local_date(scan.occurred_at) if scan is not None else None
    return since if since is not None and since < today else None


def derive_headline(parcel: ParcelFact, lang: Lang, today: date) -> Headline:
    status, sub = parcel.status, parcel.substatus
    carrier = carrier_name(parcel.carrier)
    if status == "delivered":
        when = lang.local_date(parcel.delivered_at) if parcel.delivered_at else today
        title = _relative(
            lang,
            when,
            today,
            today_s="Delivered today",
            tomorrow_s="Delivered {day}",
            other="Delivered {day}",
        )
        if when == today - timedelta(days=1):
            title = lang._("Delivered yesterday")
        elif when < today:
            title = lang._("Delivered {day}", day=lang.day(when))
        if sub == "signed" and parcel.signed_by:
            detail = lang._("Signed for by {name}.", name=parcel.signed_by)
        else:
            detail = lang._(_DELIVERED_DETAIL.get(sub, _DELIVERED_DETAIL[None]))
        return Headline(title, detail, "done")
    if status == "exception":
        title, detail = _EXCEPTIONS.get(sub, _EXCEPTIONS[None])
        return Headline(
            lang._(title), lang._(detail), "warn" if sub in ("weather", "customs_hold") else "problem"
        )
    if status == "returned":
        return Headline(
            lang._("Returned to us"),
            lang._("The parcel came back to us. Contact us about a refund or a new delivery."),
            "problem",
        )
    if status == "expired":
        return Headline(
            lang._("No recent updates"),
            lang._("The carrier has not shared news for a while. Contact us if your parcel has not arrived."),
            "warn",
        )
    if status == "available_for_pickup":
        return Headline(
            lang._("Ready for pickup"),
            lang._("Collect it at the pickup point below. Bring an ID and your tracking number."),
            "warn",
        )
    if status == "attempt_failed":
        return Headline(
            lang._("Delivery attempted"),
            lang._("The carrier tried to deliver but could not. They will try again or leave a notice."),
            "warn",
        )
    if status == "out_for_delivery":
        since = _out_since_earlier_day(parcel, lang, today)
        if since is not None:
            return Headline(
                lang._("Still out for delivery"),
                lang._(
                    "{carrier} took it out for delivery on {day} and has not scanned it since. "
                    "We are keeping an eye on it.",
                    carrier=carrier,
                    day=lang.day(since),
                ),
                "warn",
            )
        return Headline(lang._("Arriving today"), lang._("Your parcel is out for delivery."), "ok")
    if is_delayed(parcel, today):
        expected = parcel.expected_on
        if expected is not None and expected >= today:
            title = _relative(
                lang, expected, today,
                today_s="Delayed — now expected today",
                tomorrow_s="Delayed — now expected tomorrow",
                other="Delayed — now expected {day}",
            )  # fmt: skip
        else:
            title = lang._("Delayed")
        if parcel.promised_on and expected and expected > parcel.promised_on:
            detail = lang._(
                "It was due {promised}. {carrier} has moved the delivery date; we are keeping an eye on it.",
                promised=lang.day(parcel.promised_on),
                carrier=carrier,
            )
        elif parcel.promised_on:
            detail = lang._(
                "It was due {promised} and {carrier} has not given a new date yet. We are keeping an eye on it.",
                promised=lang.day(parcel.promised_on),
                carrier=carrier,
            )
        else:
            detail = lang._("{carrier} has reported a delay. We are keeping an eye on it.", carrier=carrier)
        return Headline(title, detail, "warn")
    if status in ("pending", "info_received"):
        title = lang._("Getting ready to ship") if status == "pending" else lang._("Ready to ship")
        return Headline(
            title,
            lang._("{carrier} has the parcel's details and will pick it up soon.", carrier=carrier)
            if status == "info_received"
            else lang._("You will see updates here as soon as the carrier scans your parcel."),
            "ok",
        )
    expected_day = _expected_day(parcel)
    if expected_day is not None and expected_day >= today:
        title = _relative(
            lang, expected_day, today, today_s="Arriving today", tomorrow_s="Arriving tomorrow",
            other="Arriving {day}",
        )  # fmt: skip
        return Headline(title, lang._("On its way with {carrier}.", carrier=carrier), "ok")
    return Headline(lang._("On its way"), lang._("On its way with {carrier}.", carrier=carrier), "ok")


_STEP_LABELS = ("Ordered", "Shipped", "In transit", "Out for delivery", "Delivered")


def derive_steps(status: str | None, lang: Lang, reached: frozenset[str] = frozenset()) -> tuple[Step, ...]:
    """Five milestones with done / current / problem / todo; ``status`` None means not shipped yet."""
    labels = list(_STEP_LABELS)
    if status == "available_for_pickup":
        labels[3], labels[4] = "Ready for pickup", "Picked up"
    # The current step is drawn filled, as reached: before the carrier's first pickup scan that is "Ordered"
    # (a label may exist, but "Shipped" would contradict the headline "Getting ready to ship").
    position = {
        None: 0, "pending": 0, "info_received": 0, "in_transit": 2, "out_for_delivery": 3,
        "attempt_failed": 3, "available_for_pickup": 3, "delivered": 5,
    }.get(status)  # fmt: skip
    problem = position is None  # exception, returned, expired: the step reached so far turns red
    if problem:
        position = 3 if "out_for_delivery" in reached else 2 if "shipped" in reached else 1
    assert position is not None
    steps: list[Step] = []
    for index, label in enumerate(labels):
        state: StepState
        if index < position:
            state = "done"
        elif index == position:
            state = "problem" if problem else "current"
        else:
            state = "todo"
        if status == "attempt_failed" and index == position:
            state = "problem"
        steps.append(Step(lang._(label), state))
    if status == "delivered":
        steps[-1] = Step(steps[-1].label, "done")
    return tuple(steps)


def _place(city: str | None, region: str | None, country: str | None) -> str | None:
    parts = [p for p in (city, region, country) if p]
    return ", ".join(parts) if parts else None


def derive_timeline(scans: Sequence[ScanFact], lang: Lang) -> tuple[Entry, ...]:
    """Newest first, in the shopper's time zone and language (the carrier's own words kept beside)."""
    ordered = sorted(scans, key=lambda s: s.occurred_at, reverse=True)
    return tuple(
        Entry(
            iso=scan.occurred_at.isoformat(),
            day=lang.short_day(lang.local_date(scan.occurred_at)),
            time=lang.time(scan.occurred_at),
            label=status_label(lang, scan.status),
            message=scan.message,
            place=_place(scan.city, scan.region, scan.country),
            is_latest=i == 0,
        )
        for i, scan in enumerate(ordered)
    )


def derive_expected(parcel: ParcelFact, lang: Lang, today: date) -> tuple[str | None, str | None]:
    """(label, value): a date when the carrier or the store gave one, a window while it is a promise."""
    if parcel.status == "delivered":
        if parcel.delivered_at is None:
            return None, None
        at = parcel.delivered_at
        return lang._("Delivered"), f"{lang.day(lang.local_date(at))}, {lang.time(at)}"
    if parcel.status in TERMINAL or parcel.status in ("exception", "available_for_pickup"):
        return None, None
    if parcel.status == "out_for_delivery" and _out_since_earlier_day(parcel, lang, today) is None:
        # On the van today: today, whatever date the carrier gave earlier (the headline says "Arriving
        # today"). Out since an earlier day, the carrier's or the store's date stands, as for any parcel.
        return lang._("Expected delivery"), lang.day(today)
    if parcel.expected_on is not None:
        return lang._("Expected delivery"), lang.day(parcel.expected_on)
    if parcel.promised_on is not None:
        end = parcel.promised_on
        start = max(today + timedelta(days=1), end - timedelta(days=2))
        if start >= end:
            return lang._("Expected delivery"), lang.day(max(end, today))
        return lang._("Estimated delivery"), f"{lang.short_day(start)} \N{EN DASH} {lang.short_day(end)}"
    return None, None


def _pickup(parcel: ParcelFact, lang: Lang) -> Pickup | None:
    if parcel.status != "available_for_pickup":
        return None
    scan = next((s for s in reversed(parcel.scans) if s.status == "available_for_pickup"), None)
    if scan is None:
        return Pickup(None, None, "")
    place = ", ".join(p for p in (scan.city, scan.region, scan.postal_code, scan.country) if p) or None
    return Pickup(
        scan.message, place, f"{lang.day(lang.local_date(scan.occurred_at))}, {lang.time(scan.occurred_at)}"
    )


def mask_address(address: Mapping[str, Any] | None) -> tuple[str, ...]:
    """Enough for the shopper to recognise the address, not enough to be useful to anyone else."""
    if not address:
        return ()
    lines: list[str] = []
    name = str(address.get("name") or "").split()
    if name:
        lines.append(name[0] + (f" {name[-1][0]}." if len(name) > 1 else ""))
    line1 = str(address.get("line1") or "")
    if line1:
        lines.append(line1[:3] + "•••")
    postal = str(address.get("postal_code") or "")
    masked_postal = postal[:3] + "•" * max(len(postal) - 3, 0) if postal else ""
    city_line = " ".join(p for p in (address.get("city"), address.get("region"), masked_postal) if p)
    if city_line:
        lines.append(city_line)
    if address.get("country"):
        lines.append(str(address["country"]).upper())
    return tuple(lines)


def _reached(parcel: ParcelFact) -> frozenset[str]:
    statuses = {s.status for s in parcel.scans}
    reached = set()
    if statuses & {"in_transit", "out_for_delivery", "attempt_failed", "available_for_pickup", "delivered"}:
        reached.add("shipped")
    if statuses & {"out_for_delivery", "attempt_failed"}:
        reached.add("out_for_delivery")
    return frozenset(reached)


_URGENCY: dict[Tone, int] = {"problem": 0, "warn": 1, "ok": 2, "done": 3}


def present(order: OrderFact, lang: Lang, now: datetime) -> PageView:
    today = now.astimezone(lang.tz).date()
    parcels: list[ParcelView] = []
    total = len(order.parcels)
    for index, parcel in enumerate(order.parcels, start=1):
        label, value = derive_expected(parcel, lang, today)
        parcels.append(
            ParcelView(
                title=lang._("Parcel {n} of {total}", n=index, total=total)
                if total > 1
                else lang._("Your parcel"),
                headline=derive_headline(parcel, lang, today),
                steps=derive_steps(parcel.status, lang, _reached(parcel)),
                expected_label=label,
                expected=value,
                carrier=carrier_name(parcel.carrier),
                service=parcel.service,
                tracking_number=parcel.tracking_number,
                carrier_url=parcel.tracking_url
                or carriers.tracking_url(parcel.carrier, parcel.tracking_number),
                items=parcel.items,
                timeline=derive_timeline(parcel.scans, lang),
                pickup=_pickup(parcel, lang),
                status=parcel.status,
            )
        )
    if order.cancelled_at is not None:
        headline = Headline(
            lang._("Order cancelled"),
            lang._("This order was cancelled. Contact us if you have questions."),
            "problem",
        )
    elif not parcels:
        headline = Headline(
            lang._("Order received"),
            lang._("We are preparing your order. Tracking details appear here as soon as it ships."),
            "ok",
        )
    else:
        headline = min((p.headline for p in parcels), key=lambda h: _URGENCY[h.tone])
    return PageView(
        number=order.number,
        placed=lang.day(lang.local_date(order.placed_at)),
        headline=headline,
        parcels=tuple(parcels),
        unshipped=order.unshipped,
        address=mask_address(order.address),
        steps=derive_steps(None, lang) if not parcels else (),
    )
