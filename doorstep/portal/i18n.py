"""Languages of the shopper pages: Babel catalogs, negotiation, and localised dates and money.

Catalogs are the ``.po`` files in ``doorstep/locale/<lang>/LC_MESSAGES/messages.po``, compiled in memory
on first use (no build step after ``pip install``). The language is picked from ``?lang=``, then the
customer's locale, then ``Accept-Language``, then the store's locale.
"""

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, dates, numbers
from babel.messages import mofile, pofile
from babel.support import Translations

from doorstep.core import money

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
SUPPORTED: tuple[str, ...] = ("en", "es", "fr", "de", "pt_BR")
DEFAULT = "en"
# Day formats without the year, per language (CLDR's own skeletons abbreviate the weekday).
_DAY = {
    "en": ("EEEE, MMMM d", "EEE, MMM d"),
    "es": ("EEEE, d 'de' MMMM", "EEE, d MMM"),
    "fr": ("EEEE d MMMM", "EEE d MMM"),
    "de": ("EEEE, d. MMMM", "EEE, d. MMM"),
    "pt_BR": ("EEEE, d 'de' MMMM", "EEE, d 'de' MMM"),
}
NAMES = {"en": "English", "es": "Español", "fr": "Français", "de": "Deutsch", "pt_BR": "Português (Brasil)"}


def match(tag: str | None) -> str | None:
    """A language tag (``pt-BR``, ``es_MX``, ``de``) → a supported language, or None."""
    if not tag:
        return None
    parts = tag.strip().replace("-", "_").split("_")
    lang = parts[0].lower()
    if lang == "pt":
        return "pt_BR"
    return lang if lang in SUPPORTED else None


def parse_accept_language(header: str | None) -> list[str]:
    """Tags from ``Accept-Language`` by descending q (ties keep their order)."""
    if not header:
        return []
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if tag and tag != "*" and q > 0:
            weighted.append((-q, position, tag))
    return [tag for _, _, tag in sorted(weighted)]


def negotiate(query: str | None, customer: str | None, accept_language: str | None, store: str | None) -> str:
    candidates: Iterable[str | None] = (query, customer, *parse_accept_language(accept_language), store)
    for tag in candidates:
        found = match(tag)
        if found:
            return found
    return DEFAULT


@lru_cache(maxsize=len(SUPPORTED))
def translations(lang: str) -> Translations:
    """The compiled catalog for ``lang`` (English falls back to the message ids)."""
    path = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return Translations()
    with path.open("rb") as handle:
        catalog = pofile.read_po(handle, locale=lang)
    buffer = io.BytesIO()
    mofile.write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)


def zone(name: str | None) -> tzinfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@dataclass(frozen=True)
class Lang:
    """Everything a page needs to speak one language in one time zone."""

    code: str
    tz: tzinfo

    @property
    def html_lang(self) -> str:
        return self.code.replace("_", "-")

    @property
    def _locale(self) -> Locale:
        return _babel_locale(self.code)

    @property
    def gettext(self) -> Callable[[str], str]:
        return translations(self.code).gettext

    def _(self, message: str, **params: object) -> str:
        text = translations(self.code).gettext(message)
        return text.format(**params) if params else text

    def weekday(self, day: date) -> str:
        return dates.format_date(day, "EEEE", locale=self._locale)

    def day(self, day: date) -> str:
        """``Thursday, November 26`` in the page's language."""
        return dates.format_date(day, _DAY[self.code][0], locale=self._locale)

    def short_day(self, day: date) -> str:
        return dates.format_date(day, _DAY[self.code][1], locale=self._locale)

    def time(self, moment: datetime) -> str:
        return dates.format_time(moment, "short", tzinfo=self.tz, locale=self._locale)

    def local_date(self, moment: datetime) -> date:
        return moment.astimezone(self.tz).date()

    def money(self, minor: int, currency: str) -> str:
        amount = minor / (10 ** money.exponent(currency))
        return numbers.format_currency(amount, currency, locale=self._locale)

    def number(self, value: int) -> str:
        return numbers.format_decimal(value, locale=self._locale)


@lru_cache(maxsize=len(SUPPORTED))
def _babel_locale(code: str) -> Locale:
    return Locale.parse(code)


def lang(code: str, tz_name: str | None) -> Lang:
    return Lang(code if code in SUPPORTED else DEFAULT, zone(tz_name))
