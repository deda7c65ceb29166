"""Test-send: render a template with the sample data and send it through the store's own channel, now.

The merchant gives the address (their own inbox or phone). It is the same path a real message takes
(routing, rendering, the channel) minus consent and flows, so what arrives is what shoppers will get.
Rendering happens in one short transaction; the channel is called after it closed (it is I/O).
"""

import email_validator
import httpx
import phonenumbers
from sqlalchemy.orm import Session, sessionmaker

from doorstep.config import Settings
from doorstep.core import ids
from doorstep.core.errors import DoorstepError, Invalid
from doorstep.db import transaction
from doorstep.integrations.channels.protocol import Kind, Outbound, SendFailed, Sent
from doorstep.message_templates import service as template_service
from doorstep.messaging import routing


class ChannelFailed(DoorstepError):
    status = 502
    type_slug = "channel-failed"
    title = "The channel refused the message"


def normalize_address(kind: Kind, to: str) -> str:
    """An e-mail address for email, an E.164 number for SMS and WhatsApp; 422 naming ``to`` otherwise."""
    if kind is Kind.email:
        try:
            return email_validator.validate_email(to, check_deliverability=False).normalized
        except email_validator.EmailNotValidError as exc:
            raise Invalid.field(
                "to", f"is not an e-mail address: {exc}", "give an address such as you@example.com"
            ) from exc
    try:
        number = phonenumbers.parse(to, None)
    except phonenumbers.NumberParseException as exc:
        raise Invalid.field(
            "to", "is not a phone number in international form", "give an E.164 number such as +14155550123"
        ) from exc
    if not phonenumbers.is_valid_number(number):
        raise Invalid.field("to", "is not a valid phone number", "give an E.164 number such as +14155550123")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def test_send(
    factory: sessionmaker[Session],
    *,
    settings: Settings,
    client: httpx.Client,
    store_id: int,
    template_id: str,
    to: str,
) -> tuple[str, str, Sent]:
    """Send one rendered sample; returns (channel name, address, the provider's answer)."""
    with transaction(factory) as session:
        _, kind, _, _ = template_service.resolve_source(session, store_id=store_id, template_id=template_id)
        address = normalize_address(kind, to)
        rendered = template_service.preview(
            session, store_id=store_id, template_id=template_id, context=None, base_url=settings.base_url
        )
        try:
            route = routing.route(session, store_id=store_id, kind=kind, settings=settings)
        except routing.NoRoute as exc:
            raise Invalid.field(
                "template", exc.reason, f"connect a {kind.value} channel for this store first"
            ) from exc
    outbound = Outbound(
        message_id=ids.new_id("msg"), store_id=store_id, kind=kind, to=address, sender=route.sender,
        rendered=rendered, metadata={"test_send": True, "template": template_id},
    )  # fmt: skip
    try:
        sent = route.channel.send(outbound, route.config, client=client)
    except SendFailed as exc:
        raise ChannelFailed(f"{route.name} did not accept the test message: {exc.reason}") from exc
    return route.name, address, sent
