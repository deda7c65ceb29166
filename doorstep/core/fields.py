"""Validated field types shared by commands: e-mail, E.164 phone, currency, country, aware datetimes.

Each failure raises a PydanticCustomError whose context carries a ``fix``, so API problems can say
what to send instead.
"""

from datetime import datetime
from functools import lru_cache
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from doorstep.core import money


def _problem(message: str, fix: str) -> PydanticCustomError:
    return PydanticCustomError("doorstep", message, {"fix": fix})


@lru_cache(maxsize=16384)  # pure, and asked for every message sent
def normalize_email(value: str) -> str:
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise _problem(
            f"is not a valid e-mail address ({exc})", "send an address like ana@example.com"
        ) from exc
    return result.normalized.lower()


@lru_cache(maxsize=16384)
def normalize_phone(value: str) -> str:
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        raise _problem(
            "is not a phone number in international format", "send E.164 with country code, e.g. +14155550100"
        ) from exc
    if not phonenumbers.is_valid_number(parsed):
        raise _problem("is not a valid phone number", "send E.164 with country code, e.g. +14155550100")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def check_currency(value: str) -> str:
    code = value.upper()
    if not money.is_currency(code):
        raise _problem(
            f"{value!r} is not an ISO 4217 currency", "send a three-letter code such as USD or EUR"
        )
    return code


def check_country(value: str) -> str:
    code = value.upper()
    if len(code) != 2 or not code.isalpha():
        raise _problem(f"{value!r} is not an ISO 3166-1 alpha-2 country", "send two letters such as US or BR")
    return code


def check_aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise _problem("has no time zone offset", "send ISO 8601 with an offset, e.g. 2026-11-23T10:00:00Z")
    return value


def check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise _problem(f"{value!r} is not an IANA time zone", "send a zone such as America/New_York") from exc
    return value


def check_locale(value: str) -> str:
    """BCP 47-ish tags: ``en``, ``pt-BR`` or ``pt_BR``; stored as ``pt_BR``."""
    parts = value.replace("-", "_").split("_")
    if not (2 <= len(parts[0]) <= 3 and parts[0].isalpha()) or any(not p.isalnum() for p in parts[1:]):
        raise _problem(f"{value!r} is not a locale", "send a language tag such as en, es or pt-BR")
    return "_".join([parts[0].lower(), *(p.upper() if len(p) == 2 else p for p in parts[1:])])


Email = Annotated[str, AfterValidator(normalize_email)]
Phone = Annotated[str, AfterValidator(normalize_phone)]
Currency = Annotated[str, AfterValidator(check_currency)]
Country = Annotated[str, AfterValidator(check_country)]
AwareDatetime = Annotated[datetime, AfterValidator(check_aware)]
TimeZone = Annotated[str, AfterValidator(check_timezone)]
Locale = Annotated[str, AfterValidator(check_locale)]
