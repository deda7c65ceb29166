"""Small pure readers shared by commerce adapters: JSON bodies, exact money, contact points, free text.

Each optional reader drops a value it cannot use and says so in ``Parsed.ignored`` (so an order is never
refused for a mistyped phone); ``Unreadable`` is for what the main command cannot do without.
"""

import json
from collections.abc import Iterable
from decimal import Decimal
from typing import Annotated, Any

import phonenumbers
from pydantic import BeforeValidator, ValidationError

from doorstep.core import money
from doorstep.core.fields import check_locale, normalize_email
from doorstep.integrations.commerce.protocol import Parsed


class Unreadable(ValueError):
    """The main object of a payload cannot become a command; the message names the field and why."""


def _as_text(value: Any) -> Any:
    """Amounts arrive as decimal strings, or as JSON numbers (read as Decimal by ``load``): both become text."""
    if isinstance(value, Decimal | int) and not isinstance(value, bool):
        return str(value)
    return value


# A decimal amount kept as text until its currency is known (then ``minor`` makes it exact minor units).
Amount = Annotated[str, BeforeValidator(_as_text)]


def load(body: bytes) -> dict[str, Any]:
    """A JSON object, with every non-integer number read as Decimal (never float)."""
    try:
        data = json.loads(body, parse_float=Decimal)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def reason(exc: ValueError) -> str:
    """One line naming each failing field (Pydantic) or the message (anything else)."""
    if isinstance(exc, ValidationError):
        errors = exc.errors()
        parts = [f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in errors[:5]]
        return "; ".join(parts) + (f" (and {len(errors) - 5} more)" if len(errors) > 5 else "")
    return str(exc)


def text(value: str | None, limit: int) -> str | None:
    """Free text trimmed to what Doorstep stores; blank becomes None."""
    if value is None or not value.strip():
        return None
    return value.strip()[:limit]


def unique(values: Iterable[str | None]) -> list[str]:
    """Non-blank values, stripped, first occurrence kept."""
    return list(dict.fromkeys(v.strip() for v in values if v and v.strip()))


def currency(value: str | None, field: str) -> str:
    code = (value or "").strip().upper()
    if not money.is_currency(code):
        raise Unreadable(f"{field}: {value!r} is not an ISO 4217 currency")
    return code


def minor(field: str, amount: str | None, currency_code: str) -> int | None:
    """Exact minor units of a decimal amount; None when the amount is absent."""
    if amount is None:
        return None
    try:
        return money.to_minor(amount, currency_code)
    except ValueError as exc:
        raise Unreadable(f"{field}: {exc}") from exc


def phone(raw: str | None, region: str | None, parsed: Parsed, where: str) -> str | None:
    """E.164, reading national formats with the address's country; an invalid number is dropped."""
    if raw is None or not raw.strip():
        return None
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        parsed.ignored.append(f"{where} {raw!r} is not a valid phone number: dropped")
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def email(raw: str | None, parsed: Parsed, where: str) -> str | None:
    if raw is None or not raw.strip():
        return None
    try:
        return normalize_email(raw.strip())
    except ValueError:
        parsed.ignored.append(f"{where} {raw!r} is not a valid e-mail address: dropped")
        return None


def locale(raw: str | None, parsed: Parsed, where: str) -> str | None:
    if raw is None or not raw.strip():
        return None
    try:
        return check_locale(raw.strip())
    except ValueError:
        parsed.ignored.append(f"{where} {raw!r} is not a locale: dropped")
        return None
