"""What a template may read: the context every message is rendered with, and a sample for previews.

Templates (shipped defaults and merchant overrides) see exactly these fields and nothing else: plain
data, no ORM objects, no callables, so a sandboxed template cannot reach the database or a secret.
Text is already localised where it depends on the shopper (``expected_delivery`` is a formatted date in
the shopper's locale); money is integer minor units plus a formatted ``price`` string.
"""

from datetime import date
from functools import lru_cache

from babel import Locale, dates, numbers
from pydantic import BaseModel, ConfigDict, Field

from doorstep.core import money
from doorstep.stores import branding
from doorstep.stores.models import Store


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StoreContext(_Data):
    name: str
    logo_url: str | None = None  # the store's own logo (an https URL the store controls)
    primary_color: str = "#1f5f4a"
    accent_color: str = "#2f7d63"
    background_color: str = "#ffffff"
    text_color: str = "#1b1b1b"  # readable on background_color
    button_text_color: str = "#ffffff"  # readable on primary_color
    support_email: str | None = None
    support_phone: str | None = None
    support_url: str | None = None


class CustomerContext(_Data):
    first_name: str | None = None


class ItemContext(_Data):
    title: str
    variant: str | None = None
    quantity: int = 1
    image_url: str | None = None
    price_minor: int = 0  # line total in minor units
    price: str = ""  # the same, formatted for the shopper's locale and the order's currency


class OrderContext(_Data):
    number: str
    items: list[ItemContext] = Field(default_factory=list)
    total: str = ""  # formatted total, e.g. "€42.50"
    refund_amount: str | None = None  # formatted, for refund.issued


class ShipmentContext(_Data):
    carrier: str = ""  # display name, e.g. "UPS"
    tracking_number: str = ""
    status: str = ""  # the taxonomy value (DESIGN §4), e.g. "in_transit"
    expected_delivery: str | None = None  # already localised, e.g. "Thursday, 26 November"
    delay_reason: str | None = None
    pickup_location: str | None = None


class ReturnContext(_Data):
    """A return (``return.*`` milestones). Money is formatted for the shopper; the codes are English values."""

    rma: str  # the return code the shopper quotes, e.g. "R-4F7K2Q"
    status: (
        str  # requested | approved | label_issued | in_transit | received | inspected | resolved | rejected
    )
    resolution: str  # what the shopper asked for: refund | store_credit | exchange | keep
    method: str  # how the items travel back: label | qr_dropoff | in_store | none
    outcome: str | None = None  # once resolved: refunded | credited | exchanged | kept
    refund_amount: str | None = None  # formatted, when money goes back
    credit_amount: str | None = None  # formatted, when store credit was issued
    credit_code: str | None = None  # the shopper's store-credit code (their return page shows it too)
    exchange_items: list[str] = Field(default_factory=list)  # "Merino Tee / L" for each replacement
    rejection_reason: str | None = (
        None  # outside_policy | condition_not_met | not_received | suspected_fraud | other
    )
    rejection_message: str | None = None  # the store's own words to the shopper


class ClaimContext(_Data):
    """A package-protection claim (``claim.*`` milestones)."""

    kind: str  # lost | damaged | stolen | wrong_item
    status: str  # filed | approved | rejected | resolved
    resolution: str | None = None  # reship | refund once settled; None while filed or when declined
    amount: str = ""  # the claimed value, formatted
    decided_reason: str | None = None


class LinksContext(_Data):
    # The shopper's status page for the subject: tracking (/t/{token}) for orders and parcels, the return's
    # page (/r/{token}) for returns; wrapped for click tracking if wanted.
    tracking: str
    unsubscribe: str | None = None  # one-click unsubscribe page
    preferences: str | None = None
    open_pixel: str | None = None  # 1x1 image URL, email only


class RemedyContext(_Data):
    code: str | None = None  # e.g. a discount code
    description: str  # e.g. "10% off your next order"


class TemplateContext(_Data):
    store: StoreContext
    customer: CustomerContext = Field(default_factory=CustomerContext)
    order: OrderContext
    shipment: ShipmentContext | None = None  # None for order.* milestones
    links: LinksContext
    remedy: RemedyContext | None = None  # shipment.delayed (and any flow that offers one)
    return_request: ReturnContext | None = None  # return.* milestones only
    claim: ClaimContext | None = None  # claim.* milestones only


def sample_context(
    store: StoreContext | None = None,
    *,
    base_url: str = "https://doorstep.example",
    locale: str = "en",
    milestone: str | None = None,
) -> TemplateContext:
    """A realistic context for previews and for checking a merchant's template when it is saved, in the
    message's language. Given a milestone, only what that milestone would carry (a remedy only when
    delayed, a delay reason only when delayed or in exception); without one, everything is filled."""
    store = store or StoreContext(name="Acme Outfitters", support_email="help@acme.example")
    late = milestone in (None, "shipment.delayed", "shipment.exception")
    parcel = milestone is None or milestone.startswith("shipment.")  # order.* and refund.* have no parcel
    returning = milestone is None or milestone.startswith("return.")
    claiming = milestone is None or milestone.startswith("claim.")
    return TemplateContext(
        store=store,
        customer=CustomerContext(first_name="Ana"),
        order=OrderContext(
            number="#1042",
            items=[
                ItemContext(
                    title="Trail Runner",
                    variant="Blue / 42",
                    quantity=1,
                    price_minor=8900,
                    price=format_money(8900, "USD", locale),
                ),
                ItemContext(
                    title="Wool Socks",
                    variant="M",
                    quantity=2,
                    price_minor=2400,
                    price=format_money(2400, "USD", locale),
                ),
            ],
            total=format_money(11300, "USD", locale),
            refund_amount=format_money(2400, "USD", locale),
        ),
        shipment=ShipmentContext(
            carrier="UPS",
            tracking_number="1Z999AA10123456784",
            status="in_transit",
            expected_delivery=format_day(date(2026, 11, 26), locale),
            delay_reason="Severe weather in the carrier's network" if late else None,
            pickup_location="UPS Access Point, 12 Main St",
        )
        if parcel
        else None,
        links=LinksContext(
            tracking=f"{base_url}/t/sample-token",
            unsubscribe=f"{base_url}/u/sample-token",
            preferences=f"{base_url}/p/sample-token",
            open_pixel=None,  # a preview or test send counts no opens
        ),
        remedy=RemedyContext(code="SORRY10", description="10% off your next order")
        if milestone in (None, "shipment.delayed")
        else None,
        return_request=_sample_return(milestone, locale) if returning else None,
        claim=ClaimContext(
            kind="lost",
            status="resolved" if milestone == "claim.resolved" else "filed",
            resolution="reship" if milestone == "claim.resolved" else None,
            amount=format_money(8900, "USD", locale),
        )
        if claiming
        else None,
    )


def _sample_return(milestone: str | None, locale: str) -> ReturnContext:
    status = milestone.removeprefix("return.") if milestone else "resolved"
    return ReturnContext(
        rma="R-4F7K2Q",
        status=status,
        resolution="store_credit",
        method="label",
        outcome="credited" if status == "resolved" else None,
        refund_amount=None,
        credit_amount=format_money(2400, "USD", locale) if status == "resolved" else None,
        credit_code="CR-7QK2-M9XD-4TZP" if status == "resolved" else None,
        rejection_reason="outside_policy" if status == "rejected" else None,
        rejection_message="The return window closed on November 1." if status == "rejected" else None,
    )


def store_context_of(store: Store) -> StoreContext:
    """The store as templates see it: name, logo, brand colours (nudged to readable), support contacts."""
    merged = {**branding.DEFAULTS, **{k: v for k, v in store.branding.items() if v not in (None, "")}}
    try:
        background = branding.normalize_hex(str(merged["background_color"]))
        primary = branding.normalize_hex(str(merged["primary_color"]))
        accent = branding.normalize_hex(str(merged["accent_color"]))
    except ValueError:
        background = branding.DEFAULTS["background_color"]
        primary = branding.DEFAULTS["primary_color"]
        accent = branding.DEFAULTS["accent_color"]
    primary = branding.ensure_contrast(primary, background, branding.AA_UI)
    logo = merged.get("logo_url")
    return StoreContext(
        name=store.name,
        logo_url=str(logo) if isinstance(logo, str) and logo.startswith("https://") else None,
        primary_color=primary,
        accent_color=accent,
        background_color=background,
        text_color=branding.readable_on(background),
        button_text_color=branding.readable_on(primary),
        support_email=store.support_email,
        support_phone=store.support_phone,
        support_url=store.support_url,
    )


# --- formatting for the shopper (sample data and published milestones) ---------------------------------

_DAY = {
    "en": "EEEE, MMMM d",
    "es": "EEEE, d 'de' MMMM",
    "fr": "EEEE d MMMM",
    "de": "EEEE, d. MMMM",
    "pt_BR": "EEEE, d 'de' MMMM",
}
# Display names for carrier slugs whose title-case would read wrong.
_CARRIERS = {
    "ups": "UPS", "usps": "USPS", "fedex": "FedEx", "dhl": "DHL Express", "dhl-ecommerce": "DHL eCommerce",
    "dhl-paket": "DHL Paket", "dpd": "DPD", "gls": "GLS", "postnl": "PostNL", "ontrac": "OnTrac",
    "simulated": "Doorstep Express",
}  # fmt: skip


@lru_cache(maxsize=8)
def _babel(locale: str) -> Locale:
    return Locale.parse(locale)


def format_money(minor: int, currency: str, locale: str) -> str:
    amount = minor / (10 ** money.exponent(currency))
    return numbers.format_currency(amount, currency, locale=_babel(locale))


def format_day(day: date, locale: str) -> str:
    """``Thursday, November 26`` in the shopper's language."""
    return dates.format_date(day, _DAY.get(locale, _DAY["en"]), locale=_babel(locale))


def carrier_name(slug: str) -> str:
    return _CARRIERS.get(slug, slug.replace("-", " ").title() if slug.islower() else slug)
