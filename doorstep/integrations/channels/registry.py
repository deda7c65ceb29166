"""Every channel and publisher, one line each. The key is its ``name``, also its store connection's provider."""

from doorstep.integrations.channels import devbox, klaviyo, smtp, twilio_sms, whatsapp
from doorstep.integrations.channels.protocol import Channel, Kind, Publisher

CHANNELS: dict[str, Channel] = {
    smtp.channel.name: smtp.channel,
    twilio_sms.channel.name: twilio_sms.channel,
    whatsapp.channel.name: whatsapp.channel,
    devbox.channel.name: devbox.channel,
}

# Milestone pushes to a store's marketing tool (outbound webhooks are per endpoint: doorstep.webhooks).
PUBLISHERS: dict[str, Publisher] = {
    klaviyo.publisher.name: klaviyo.publisher,
}

# Which channels carry a kind, in preference order when a store has connected several.
PREFERENCE: dict[Kind, tuple[str, ...]] = {
    Kind.email: ("smtp", "devbox"),
    Kind.sms: ("twilio_sms", "devbox"),
    Kind.whatsapp: ("whatsapp", "devbox"),
}


# Channels whose provider posts delivery receipts to /hooks/channels/{name}/{store_slug}.
STATUS_CALLBACKS: frozenset[str] = frozenset({twilio_sms.channel.name, whatsapp.channel.name})


def get(name: str) -> Channel | None:
    return CHANNELS.get(name)
