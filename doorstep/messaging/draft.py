"""A message decided ``send`` but not yet rendered, and its rendering (pure: no session, no I/O).

Deciding reads and writes the database; rendering (Jinja, MJML, the plain-text part) is CPU alone. So a
batch's decisions are committed first, with each message's template context built from the rows they
read, and each message is rendered just before its channel is called, outside any transaction: a batch's
transaction never waits on its renders, and a worker thread renders one message while the others wait on
their providers' replies (the lazy payloads of STYLE.md).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from doorstep.integrations.channels.protocol import Kind, Outbound
from doorstep.messaging import render, routing
from doorstep.messaging.context import TemplateContext


@dataclass(frozen=True)
class Draft:
    """A message whose row is ``sending``: what rendering and sending it need, as plain data."""

    message_pk: int
    message_id: str  # the row's public id: Message-ID and provider idempotency key
    store_id: int
    kind: Kind
    to: str
    template: str  # the milestone whose templates render it (a flow step may name another)
    locale: str
    context: TemplateContext
    route: routing.Route
    overrides: Mapping[tuple[str, Kind, str], render.Source]  # the store's enabled overrides
    metadata: Mapping[str, Any]


@dataclass(frozen=True)
class Written:
    """A rendered message, ready for ``draft.route.channel``; ``override_failed`` when the store's
    override failed and the shipped default was used instead."""

    outbound: Outbound
    override_failed: render.OverrideFailed | None = None


@dataclass(frozen=True)
class Unwritten:
    """No template could render the message: ``reason`` is recorded on it (``failed``)."""

    reason: str


def write(draft: Draft) -> Written | Unwritten:
    """Render a draft into what its channel sends."""
    try:
        rendered, override_failed = render.render_chosen(
            draft.overrides, milestone=draft.template, kind=draft.kind, locale=draft.locale,
            context=draft.context,
        )  # fmt: skip
    except render.RenderFailed as exc:
        return Unwritten(f"the {draft.kind.value} template failed: {exc.reason}")
    except LookupError as exc:  # no template shipped for this milestone, kind and locale
        return Unwritten(f"no {draft.kind.value} template: {exc}")
    headers: dict[str, str] = {}
    if draft.kind is Kind.email and draft.context.links.unsubscribe:
        headers = {
            "List-Unsubscribe": f"<{draft.context.links.unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }
    outbound = Outbound(
        message_id=draft.message_id, store_id=draft.store_id, kind=draft.kind, to=draft.to,
        sender=draft.route.sender, rendered=rendered, headers=headers, metadata=draft.metadata,
    )  # fmt: skip
    return Written(outbound, override_failed)
