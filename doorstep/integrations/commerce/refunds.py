"""Refund adapters: send one refund to the store's platform and say what happened.

Two channels, chosen by the worker from the store's connections: Shopify's Admin REST refund API
(:mod:`shopify_refunds`) and a signed webhook for any other platform (:mod:`refund_webhook`). Each exposes
``send(client, config, cmd) -> RefundAnswer``: pure request building plus one or two HTTP calls, no
business rules (the amount and lines were decided by the returns domain).
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class RefundAnswer:
    ok: bool
    external_id: str | None = None  # the platform's refund id
    error: str | None = None
    retryable: bool = True  # False: trying again cannot help (bad credentials, order unknown)
