"""Small pure helpers shared by tracking adapters: carrier times and unknown-code fallbacks."""

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from doorstep.shipments.status import Status, Substatus

# When a carrier gives a local time without an offset (UPS/FedEx XML, USPS), the scan's place decides
# the zone. US states and Canadian provinces by region code; otherwise the country's main zone.
_REGION_ZONES: dict[tuple[str, str], str] = {
    **{("US", s): "America/New_York" for s in "CT DE DC FL GA IN KY ME MD MA MI NH NJ NY NC OH PA RI SC VT VA WV".split()},
    **{("US", s): "America/Chicago" for s in "AL AR IL IA KS LA MN MS MO NE ND OK SD TN TX WI".split()},
    **{("US", s): "America/Denver" for s in "CO MT NM UT WY ID".split()},
    **{("US", s): "America/Phoenix" for s in ("AZ",)},
    **{("US", s): "America/Los_Angeles" for s in "CA NV OR WA".split()},
    ("US", "AK"): "America/Anchorage",
    ("US", "HI"): "Pacific/Honolulu",
    ("US", "PR"): "America/Puerto_Rico",
    **{("CA", s): "America/Toronto" for s in "ON QC".split()},
    **{("CA", s): "America/Halifax" for s in "NS NB PE".split()},
    ("CA", "NL"): "America/St_Johns",
    **{("CA", s): "America/Winnipeg" for s in ("MB",)},
    **{("CA", s): "America/Regina" for s in ("SK",)},
    **{("CA", s): "America/Edmonton" for s in "AB NT".split()},
    ("CA", "BC"): "America/Vancouver",
    ("CA", "YT"): "America/Whitehorse",
    ("CA", "NU"): "America/Iqaluit",
}  # fmt: skip

_COUNTRY_ZONES: dict[str, str] = {
    "US": "America/Chicago", "CA": "America/Toronto", "MX": "America/Mexico_City", "BR": "America/Sao_Paulo",
    "GB": "Europe/London", "IE": "Europe/Dublin", "FR": "Europe/Paris", "DE": "Europe/Berlin",
    "NL": "Europe/Amsterdam", "BE": "Europe/Brussels", "ES": "Europe/Madrid", "PT": "Europe/Lisbon",
    "IT": "Europe/Rome", "AT": "Europe/Vienna", "CH": "Europe/Zurich", "PL": "Europe/Warsaw",
    "SE": "Europe/Stockholm", "DK": "Europe/Copenhagen", "NO": "Europe/Oslo", "FI": "Europe/Helsinki",
    "CZ": "Europe/Prague", "CN": "Asia/Shanghai", "HK": "Asia/Hong_Kong", "JP": "Asia/Tokyo",
    "KR": "Asia/Seoul", "SG": "Asia/Singapore", "IN": "Asia/Kolkata", "AU": "Australia/Sydney",
    "NZ": "Pacific/Auckland", "AE": "Asia/Dubai", "ZA": "Africa/Johannesburg",
}  # fmt: skip


def zone_for(country: str | None, region: str | None) -> ZoneInfo | None:
    """The time zone of a scan location, when the place pins one down well enough."""
    if not country:
        return None
    code = country.upper()
    name = _REGION_ZONES.get((code, (region or "").upper())) or _COUNTRY_ZONES.get(code)
    return ZoneInfo(name) if name else None


def local_time(
    day: date, at: time | None, *, country: str | None, region: str | None, fallback: ZoneInfo | None = None
) -> datetime:
    """A carrier's local wall-clock time made aware with the zone of where it happened.

    Falls back to ``fallback`` (e.g. the destination's zone) and finally UTC; the caller keeps the raw
    text on the checkpoint, so a wrong guess is visible and fixable.
    """
    zone = zone_for(country, region) or fallback or ZoneInfo("UTC")
    return datetime.combine(day, at or time(0, 0), tzinfo=zone)


def parse_iso(value: str, *, country: str | None = None, region: str | None = None) -> datetime:
    """ISO 8601 with or without an offset (``Z`` allowed); naive values get the place's zone."""
    text = value.strip().replace("Z", "+00:00") if value.strip().endswith("Z") else value.strip()
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is not None:
        return parsed
    return local_time(parsed.date(), parsed.time(), country=country, region=region)


# The safe fallback when a provider sends a code its own table does not list: stay in the coarse
# category the provider gave; with none, an exception "other" (never a silent in_transit).
UNKNOWN_FALLBACK: tuple[Status, Substatus | None] = (Status.exception, Substatus.other)
