"""WhatsApp through Twilio's Messages API: the same resource, request and callbacks as Twilio SMS
(:mod:`doorstep.integrations.channels.twilio_sms`), with ``whatsapp:``-prefixed addresses
(``To=whatsapp:+14155550123``, ``From=whatsapp:+<your WhatsApp sender>``).

WhatsApp only delivers free-form text inside the 24-hour window after the shopper last wrote to the
business; outside it, Meta requires a pre-approved template (Twilio's Content API, ``ContentSid``). Doorstep
sends the rendered text as ``Body``: register the store's default texts as templates, or use the channel
where shoppers opted in through a conversation. A refusal for that reason (Twilio error 63016) is final,
so messaging falls back to the step's next kind. Receipts may also say ``read``, counted as delivered.
"""

import httpx
from pydantic import BaseModel

from doorstep.integrations.channels import twilio_sms
from doorstep.integrations.channels.protocol import Kind, Outbound, Sent

PREFIX = "whatsapp:"


class Config(twilio_sms.Config):
    """The Twilio account and the WhatsApp-enabled sender (or a Messaging Service with one)."""

    def sender_for(self, kind: Kind) -> str:
        return f"{PREFIX}{self.from_number}" if self.from_number else self.messaging_service_sid or ""


def address(number: str) -> str:
    return number if number.startswith(PREFIX) else f"{PREFIX}{number}"


class WhatsApp:
    name = "whatsapp"
    kinds = frozenset({Kind.whatsapp})
    Config: type[BaseModel] = Config

    def send(self, message: Outbound, config: BaseModel, *, client: httpx.Client) -> Sent:
        assert isinstance(config, _Config)
        sender = address(config.from_number) if config.from_number else None
        return twilio_sms.post_message(
            client, config, to=address(message.to), sender=sender, body=message.rendered.text
        )


_Config = Config
channel = WhatsApp()
