"""devbox: a local outbox instead of a provider, for development and ``doorstep demo``.

Every kind (email, SMS, WhatsApp) is "delivered" into the ``outbox_messages`` table, where
``/dev/outbox`` shows it rendered: the HTML in a sandboxed frame, the text part, SMS segments. Enabled
in dev and the demo (``DOORSTEP_CHANNELS__DEVBOX``), never a silent fallback in production.

Like every channel it does no database work itself: its "provider" is the :class:`Outbox` it is given
(``doorstep.outbox.service.Sink`` writes the row in its own short transaction, so call ``send`` outside
any open transaction, as for any provider). Delivery is idempotent on ``message_id``: sending the same
message twice stores it once and answers with the same outbox id.
"""

from typing import Protocol

import httpx
from pydantic import BaseModel, ConfigDict

from doorstep.integrations.channels.protocol import Kind, Outbound, SendFailed, Sent


class Config(BaseModel):
    """devbox needs no credentials; ``sender`` is what the outbox shows as From."""

    model_config = ConfigDict(extra="forbid")

    from_address: str = "outbox@doorstep.localhost"
    from_number: str = "+15005550006"

    def sender_for(self, kind: Kind) -> str:
        return self.from_address if kind is Kind.email else self.from_number


class Outbox(Protocol):
    def deliver(self, message: Outbound) -> str:
        """Store the message once (keyed by ``message_id``); return its outbox id."""
        ...


class Devbox:
    name = "devbox"
    kinds = frozenset(Kind)
    Config: type[BaseModel] = Config

    def __init__(self, outbox: Outbox | None = None) -> None:
        self._outbox = outbox

    def bound(self, outbox: Outbox) -> "Devbox":
        """This channel delivering into ``outbox`` (routing binds it to the app's database)."""
        return Devbox(outbox)

    def send(self, message: Outbound, config: BaseModel, *, client: httpx.Client) -> Sent:
        if self._outbox is None:
            raise SendFailed("the devbox outbox is not bound to a database", retryable=False)
        return Sent(provider_message_id=self._outbox.deliver(message))


channel = Devbox()
