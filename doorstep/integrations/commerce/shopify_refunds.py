"""Shopify refunds through the Admin REST API.

Docs: https://shopify.dev/docs/api/admin-rest/latest/resources/refund — calculate first, then create with
the calculated transactions: ``POST /admin/api/{version}/orders/{order_id}/refunds/calculate.json`` with
``refund_line_items`` (line, quantity, restock type), then ``POST …/refunds.json`` with the lines and
``transactions`` of kind ``refund`` against the suggested parent transactions. Authenticated with the
``X-Shopify-Access-Token`` header. Money travels as decimal strings; Doorstep converts exactly from and to
minor units. The amount sent is Doorstep's (it may be less than Shopify's suggestion: return fees), spread
over the suggested transactions up to each one's ``maximum_refundable``.
"""

from decimal import Decimal
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from doorstep.core import money
from doorstep.integrations.commerce.refunds import RefundAnswer
from doorstep.integrations.commerce.shopify import Config
from doorstep.returns.commands import IssueRefund


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Suggested(_Model):
    parent_id: int
    gateway: str | None = None
    amount: str
    maximum_refundable: str | None = None


class _Calculated(_Model):
    refund_line_items: list[dict[str, Any]] = []
    transactions: list[_Suggested] = []


class _Created(_Model):
    id: int


def base_url(config: Config) -> str:
    if config.admin_base_url:
        return config.admin_base_url.rstrip("/")
    if not config.shop_domain:
        raise ValueError("the Shopify connection has no shop_domain")
    return f"https://{config.shop_domain.strip().lower()}"


def _decimal(minor: int, currency: str) -> str:
    exp = money.exponent(currency)
    return str((Decimal(minor).scaleb(-exp)).quantize(Decimal(1).scaleb(-exp)))


def _error(response: httpx.Response, step: str) -> RefundAnswer:
    detail = response.text[:500]
    # 4xx other than rate limiting will not change on retry (bad token, unknown order, invalid refund).
    retryable = response.status_code == 429 or response.status_code >= 500
    return RefundAnswer(
        False, error=f"Shopify {step}: HTTP {response.status_code}: {detail}", retryable=retryable
    )


def build_calculate(cmd: IssueRefund) -> dict[str, Any]:
    lines = [
        {
            "line_item_id": int(line.line_external_id),
            "quantity": line.quantity,
            "restock_type": "return" if line.restock else "no_restock",
        }
        for line in cmd.lines
        if line.quantity > 0 and line.line_external_id.isdigit()
    ]
    return {"refund": {"currency": cmd.currency, "shipping": {"amount": "0.00"}, "refund_line_items": lines}}


def build_create(cmd: IssueRefund, calculated: _Calculated) -> dict[str, Any] | None:
    """The create body, or None when Shopify suggests no transaction to refund against."""
    left = cmd.amount_minor
    transactions: list[dict[str, Any]] = []
    for suggested in calculated.transactions:
        if left <= 0:
            break
        cap = money.to_minor(suggested.maximum_refundable or suggested.amount, cmd.currency)
        take = min(left, cap)
        if take <= 0:
            continue
        transactions.append({
            "parent_id": suggested.parent_id, "amount": _decimal(take, cmd.currency), "kind": "refund",
            "gateway": suggested.gateway,
        })  # fmt: skip
        left -= take
    if left > 0 and cmd.amount_minor > 0:
        return None
    note = cmd.note or (f"Doorstep return {cmd.rma}" if cmd.rma else f"Doorstep refund {cmd.refund_id}")
    return {
        "refund": {
            "currency": cmd.currency, "notify": True, "note": note, "shipping": {"amount": "0.00"},
            "refund_line_items": calculated.refund_line_items, "transactions": transactions,
        }
    }  # fmt: skip


def send(client: httpx.Client, config: Config, cmd: IssueRefund) -> RefundAnswer:
    if config.access_token is None:
        return RefundAnswer(False, error="the Shopify connection has no access_token", retryable=False)
    if not cmd.order_external_id or not cmd.order_external_id.isdigit():
        return RefundAnswer(False, error=f"order {cmd.order_id} has no Shopify order id", retryable=False)
    try:
        root = f"{base_url(config)}/admin/api/{config.api_version}/orders/{cmd.order_external_id}/refunds"
    except ValueError as exc:
        return RefundAnswer(False, error=str(exc), retryable=False)
    headers = {
        "X-Shopify-Access-Token": config.access_token.get_secret_value(),
        "Content-Type": "application/json",
        "Accept": "application/json",
    }
    try:
        response = client.post(f"{root}/calculate.json", json=build_calculate(cmd), headers=headers)
        if response.status_code != 200:
            return _error(response, "calculate")
        calculated = _Calculated.model_validate(response.json().get("refund") or {})
        body = build_create(cmd, calculated)
        if body is None:
            return RefundAnswer(
                False,
                error=f"Shopify suggests less than {cmd.amount_minor} refundable on this order",
                retryable=False,
            )
        response = client.post(f"{root}.json", json=body, headers=headers)
        if response.status_code not in (200, 201):
            return _error(response, "create")
        created = _Created.model_validate(response.json().get("refund") or {})
    except httpx.HTTPError as exc:
        return RefundAnswer(False, error=f"Shopify unreachable: {type(exc).__name__}: {exc}")
    except (ValidationError, ValueError) as exc:
        return RefundAnswer(False, error=f"Shopify answered something unexpected: {exc}"[:500])
    return RefundAnswer(True, external_id=str(created.id))
