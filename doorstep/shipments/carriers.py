"""Carrier names, tracking-number patterns and public tracking pages: pure lookups, no I/O.

- ``normalize`` turns a carrier name as platforms write it ("United Parcel Service", "DHL eCommerce") into
  Doorstep's slug (``ups``, ``dhl-ecommerce``); an unknown name becomes a lowercase dashed slug.
- ``detect`` lists the carriers a tracking number can belong to, most likely first: numbers whose check
  digit verifies come before numbers that only have the right shape.
- ``tracking_url`` is the carrier's public tracking page for a number.

Check digits (documented by each issuer): UPS 1Z (mod 10 over the 15 characters after ``1Z``, letters as
``(ord - 63) % 10``, even positions doubled); FedEx Express 12 digits (weights 1, 3, 7 from the right,
mod 11); FedEx Ground 15 digits, FedEx SmartPost and USPS IMpb (GS1 mod 10: weights 3, 1 from the right);
UPU S10 (weights 8 6 4 2 3 5 9 7, 11 - sum mod 11, 10 → 0, 11 → 5); DHL Express waybill (first nine digits
mod 7).
"""

import re
import unicodedata
from urllib.parse import quote

# Names as platforms and shoppers write them (lowercase, punctuation as spaces) → slug.
_ALIASES: dict[str, str] = {
    "ups": "ups", "united parcel service": "ups", "ups ground": "ups", "ups express": "ups",
    "ups surepost": "ups", "ups mail innovations": "ups", "ups mi": "ups",
    "fedex": "fedex", "fed ex": "fedex", "federal express": "fedex", "fedex ground": "fedex",
    "fedex express": "fedex", "fedex home delivery": "fedex", "fedex smartpost": "fedex",
    "fedex smart post": "fedex", "fedex freight": "fedex",
    "usps": "usps", "united states postal service": "usps", "us postal service": "usps",
    "u s postal service": "usps", "u s p s": "usps", "us mail": "usps", "usps priority mail": "usps",
    "dhl": "dhl", "dhl express": "dhl", "dhl worldwide express": "dhl", "dhl express worldwide": "dhl",
    "dhl ecommerce": "dhl-ecommerce", "dhl e commerce": "dhl-ecommerce", "dhl ecommerce solutions": "dhl-ecommerce",
    "dhl global mail": "dhl-ecommerce", "dhl ecs": "dhl-ecommerce",
    "dhl paket": "dhl-paket", "dhl parcel": "dhl-paket", "deutsche post": "deutsche-post",
    "deutsche post dhl": "deutsche-post",
    "canada post": "canada-post", "canadapost": "canada-post", "postes canada": "canada-post",
    "royal mail": "royal-mail", "royalmail": "royal-mail", "parcelforce": "parcelforce",
    "parcelforce worldwide": "parcelforce",
    "postnl": "postnl", "post nl": "postnl", "postnl international": "postnl",
    "4px": "4px", "4px worldwide express": "4px", "4px express": "4px",
    "lasership": "lasership", "laser ship": "lasership", "ontrac": "ontrac", "on trac": "ontrac",
    "dpd": "dpd", "gls": "gls", "purolator": "purolator", "australia post": "australia-post",
    "auspost": "australia-post", "la poste": "la-poste", "colissimo": "colissimo", "chronopost": "chronopost",
    "bpost": "bpost", "evri": "evri", "hermes uk": "evri", "hermes": "hermes", "yodel": "yodel",
    "tnt": "tnt", "aramex": "aramex", "amazon": "amazon", "amazon logistics": "amazon",
    "amazon shipping": "amazon", "japan post": "japan-post", "china post": "china-post", "china ems": "china-ems",
    "yunexpress": "yunexpress", "yun express": "yunexpress", "yanwen": "yanwen", "sf express": "sf-express",
    "asendia": "asendia", "landmark global": "landmark-global", "sendle": "sendle", "correos": "correos",
    "poste italiane": "poste-italiane",
}  # fmt: skip

# UPU S10 numbers end in the issuing post's country.
_S10_POSTS: dict[str, str] = {
    "US": "usps", "CA": "canada-post", "GB": "royal-mail", "NL": "postnl", "DE": "deutsche-post",
    "FR": "la-poste", "AU": "australia-post", "JP": "japan-post", "CN": "china-post", "BE": "bpost",
    "IT": "poste-italiane", "ES": "correos",
}  # fmt: skip

_URLS: dict[str, str] = {
    "ups": "https://www.ups.com/track?tracknum={n}",
    "fedex": "https://www.fedex.com/fedextrack/?trknbr={n}",
    "usps": "https://tools.usps.com/go/TrackConfirmAction?tLabels={n}",
    "dhl": "https://www.dhl.com/global-en/home/tracking/tracking-express.html?submit=1&tracking-id={n}",
    "dhl-ecommerce": "https://webtrack.dhlecs.com/?trackingnumber={n}",
    "dhl-paket": "https://www.dhl.de/de/privatkunden/pakete-empfangen/verfolgen.html?piececode={n}",
    "deutsche-post": "https://www.deutschepost.de/de/s/sendungsverfolgung.html?piececode={n}",
    "canada-post": "https://www.canadapost-postescanada.ca/track-reperage/en#/search?searchFor={n}",
    "royal-mail": "https://www.royalmail.com/track-your-item#/tracking-results/{n}",
    "parcelforce": "https://www.parcelforce.com/track-trace?trackNumber={n}",
    "postnl": "https://jouw.postnl.nl/track-and-trace/{n}",
    "4px": "https://track.4px.com/#/result/0/{n}",
    "lasership": "https://www.ontrac.com/tracking/?number={n}",
    "ontrac": "https://www.ontrac.com/tracking/?number={n}",
    "dpd": "https://tracking.dpd.de/parcelstatus?query={n}",
    "purolator": "https://www.purolator.com/en/shipping/tracker?pin={n}",
    "australia-post": "https://auspost.com.au/mypost/track/details/{n}",
    "la-poste": "https://www.laposte.fr/outils/suivre-vos-envois?code={n}",
    "colissimo": "https://www.laposte.fr/outils/suivre-vos-envois?code={n}",
    "evri": "https://www.evri.com/track/parcel/{n}",
    "amazon": "https://track.amazon.com/tracking/{n}",
}


def normalize(name: str | None) -> str | None:
    """A carrier name as a platform writes it → Doorstep's slug (unknown names: lowercase, dashed)."""
    if name is None:
        return None
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    words = re.sub(r"[^a-z0-9]+", " ", ascii_name.lower()).strip()
    if not words:
        return None
    return _ALIASES.get(words) or _ALIASES.get(words.replace(" ", "")) or words.replace(" ", "-")


def _gs1_mod10(digits: str) -> bool:
    """GS1 check digit: weights 3, 1, 3, … from the rightmost digit before the check digit."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits[:-1])))
    return (10 - total % 10) % 10 == int(digits[-1])


def _ups_1z(number: str) -> bool:
    total = 0
    for i, char in enumerate(number[2:17]):
        value = int(char) if char.isdigit() else (ord(char) - 63) % 10
        total += value * 2 if i % 2 == 1 else value
    return (10 - total % 10) % 10 == int(number[17])


def _fedex_12(number: str) -> bool:
    weights = (1, 3, 7)
    total = sum(int(d) * weights[i % 3] for i, d in enumerate(reversed(number[:11])))
    return total % 11 % 10 == int(number[11])


def _s10(number: str) -> bool:
    weights = (8, 6, 4, 2, 3, 5, 9, 7)
    check = 11 - sum(int(d) * w for d, w in zip(number[2:10], weights, strict=True)) % 11
    return {10: 0, 11: 5}.get(check, check) == int(number[10])


def _dhl_10(number: str) -> bool:
    return int(number[:9]) % 7 == int(number[9])


def detect(number: str) -> list[str]:
    """Carriers this tracking number may belong to, most likely first (check digit verified first)."""
    n = re.sub(r"[\s-]+", "", number).upper()
    strong: list[str] = []  # the format matches and its check digit verifies
    weak: list[str] = []  # only the shape matches

    def add(carrier: str, verified: bool) -> None:
        (strong if verified else weak).append(carrier)

    if re.fullmatch(r"1Z[0-9A-Z]{15}\d", n):
        add("ups", _ups_1z(n))
    if re.fullmatch(r"MI\d{6}[0-9A-Z]{1,22}", n):
        add("ups", False)  # UPS Mail Innovations: "MI", the 6-digit mailer id, then the package id
    if re.fullmatch(r"[A-Z]{2}\d{9}[A-Z]{2}", n) and n[-2:] in _S10_POSTS:
        add(_S10_POSTS[n[-2:]], _s10(n))
    if re.fullmatch(r"GM\d{16,22}", n):
        add("dhl-ecommerce", False)
    if n.isdigit():
        impb = n
        if re.fullmatch(r"420\d{5}(\d{4})?\d{20,22}", n):  # routing prefix: 420 + ZIP or ZIP+4
            impb = n[8:] if len(n) - 8 in (20, 22) else n[12:]
        if len(impb) == 22 and impb[:2] in ("91", "92", "93", "94", "95"):
            add("usps", _gs1_mod10(impb))
            if impb.startswith("92") and _gs1_mod10(impb):
                add("fedex", False)  # FedEx SmartPost labels carry a USPS IMpb
            if n.startswith("420"):
                add("dhl-ecommerce", False)  # DHL eCommerce's US labels: 420 + ZIP + IMpb
        if len(n) == 20 and _gs1_mod10("92" + n):
            add("fedex", True)  # SmartPost: the IMpb without its leading "92"
            add("usps", False)
        if len(n) == 20 and n[:2] in ("91", "92", "93", "94", "95") and _gs1_mod10(n):
            add("usps", True)  # 20-digit IMpb
        if len(n) == 12:
            add("fedex", _fedex_12(n))
        if len(n) == 15:
            add("fedex", _gs1_mod10(n))
        if len(n) == 22 and n.startswith("96"):
            add("fedex", _gs1_mod10(n[-15:]))  # FedEx Ground 96 barcode: the last 15 digits are the number
        if len(n) in (10, 11):
            add("dhl", len(n) == 10 and _dhl_10(n))
        if len(n) == 16:
            add("canada-post", False)
    if re.fullmatch(r"JD\d{18}", n) or re.fullmatch(r"JJD\d{10,}", n):
        add("dhl", False)  # DHL Express piece ids
    return list(dict.fromkeys([*strong, *weak]))  # each carrier once, at its best rank


def tracking_url(carrier: str, number: str) -> str | None:
    """The carrier's public tracking page for ``number``; None for a carrier without a known page."""
    template = _URLS.get(normalize(carrier) or "")
    if template is None:
        return None
    return template.format(n=quote(re.sub(r"\s+", "", number), safe=""))
