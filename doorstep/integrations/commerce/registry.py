"""Every commerce platform, one line each. Routes, docs and the contract test read this."""

from doorstep.integrations.commerce import shopify
from doorstep.integrations.commerce.protocol import CommerceSource

SOURCES: dict[str, CommerceSource] = {
    "shopify": shopify.SOURCE,
}


def get(name: str) -> CommerceSource | None:
    return SOURCES.get(name)
