"""Order and shipment request bodies as an API client would send them."""

from typing import Any


def order_body(n: int = 1, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "external_id": f"ext-{n}",
        "number": f"#{1000 + n}",
        "placed_at": "2026-11-20T15:04:05-05:00",
        "currency": "USD",
        "customer": {
            "email": f"Shopper{n}@Example.com",
            "phone": "+1 415 555 0100",
            "first_name": "Ana",
            "last_name": "Souza",
            "locale": "pt-BR",
            "timezone": "America/Sao_Paulo",
            "consents": [{"channel": "email", "granted": True, "source": "checkout"}],
        },
        "line_items": [
            {"external_id": f"li-{n}-1", "sku": "TEE-M", "title": "Merino Tee", "quantity": 2, "unit_price_minor": 6800},
            {"external_id": f"li-{n}-2", "sku": "CAP", "title": "Cap", "quantity": 1, "unit_price_minor": 2800,
             "is_final_sale": True},
        ],
        "shipping_minor": 695,
        "tax_minor": 1200,
        "shipping_address": {"name": "Ana Souza", "line1": "1 Main St", "city": "Austin", "region": "TX",
                             "postal_code": "78704", "country": "us"},
        "tags": ["vip"],
    }  # fmt: skip
    body.update(overrides)
    return body


def shipment_body(order_id: str, n: int = 1, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "order_id": order_id,
        "carrier": "ups",
        "service": "Ground",
        "tracking_number": f"1Z999AA1012345678{n}",
        "promised_on": "2026-11-26",
    }
    body.update(overrides)
    return body


def checkpoint(
    at: str, status: str, substatus: str | None = None, message: str = "scan", **extra: Any
) -> dict[str, Any]:
    return {"occurred_at": at, "status": status, "substatus": substatus, "message": message, **extra}


def with_customer(body: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A copy of an order body whose customer has ``fields`` replaced (e.g. a distinct phone)."""
    return {**body, "customer": {**body["customer"], **fields}}


def phone(n: int) -> str:
    """A valid, distinct North American number per ``n`` (the 555-01xx range is reserved for fiction)."""
    return f"+1 415 555 {100 + n % 100:04d}"
