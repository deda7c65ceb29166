"""Channels: how a rendered message reaches a shopper or a system (one module per provider)."""
