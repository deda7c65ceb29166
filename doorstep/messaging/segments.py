"""How many SMS segments a text costs: GSM-7 (with its extension table) or UCS-2 (3GPP TS 23.038 / 23.040).

A text is GSM-7 when every character is in the GSM 03.38 basic set or its extension table; extension
characters (``{ } [ ] ~ \\ | ^ €`` and the form feed) take two septets, an escape plus the character.
One GSM-7 segment holds 160 septets; a concatenated message spends 7 septets per segment on the user
data header, leaving 153, and an escape pair is never split across two segments. Anything else is
UCS-2: 70 UTF-16 code units in one segment, 67 per segment when concatenated, and a surrogate pair
(an emoji) is never split either. Carriers bill per segment, so default SMS texts stay within two.
"""

from dataclasses import dataclass

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE, GSM7_MULTI = 160, 153
UCS2_SINGLE, UCS2_MULTI = 70, 67


@dataclass(frozen=True)
class SegmentCount:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


# Characters outside GSM-7 that have a GSM-7 look-alike. SMS texts are folded onto these (as Twilio's
# "smart encoding" does) so one accent or curly quote does not double the price of a message; a text that
# still has characters outside GSM-7 afterwards (an emoji, Cyrillic) is sent unchanged as UCS-2.
FOLD = str.maketrans(
    {
        "á": "a", "â": "a", "ã": "a", "å": "a", "ā": "a", "Á": "A", "Â": "A", "Ã": "A", "À": "A",
        "í": "i", "î": "i", "ï": "i", "Í": "I", "Î": "I", "Ï": "I",
        "ó": "o", "ô": "o", "õ": "o", "Ó": "O", "Ô": "O", "Õ": "O",
        "ú": "u", "û": "u", "Ú": "U", "Û": "U", "ç": "c", "ê": "e", "ë": "e", "Ê": "E", "È": "E", "Ë": "E",
        "œ": "oe", "Œ": "OE", "ÿ": "y", "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
        "\u2013": "-", "\u2014": "-", "\u2026": "...", "\u00a0": " ", "\u202f": " ", "«": '"', "»": '"',
    }
)  # fmt: skip


def fold_to_gsm7(text: str) -> str:
    """``text`` with look-alikes folded onto GSM-7 when that makes it all GSM-7; otherwise unchanged."""
    if is_gsm7(text):
        return text
    folded = text.translate(FOLD)
    return folded if is_gsm7(folded) else text


def _pack(sizes: list[int], single: int, multi: int) -> int:
    """Segments needed for characters of the given unit sizes, never splitting a character."""
    total = sum(sizes)
    if total <= single:
        return 1 if total else 0
    segments, used = 1, 0
    for size in sizes:
        if used + size > multi:
            segments += 1
            used = 0
        used += size
    return segments


def count(text: str) -> SegmentCount:
    """The encoding, units and segments a text needs (0 segments for the empty text)."""
    if is_gsm7(text):
        sizes = [2 if ch in GSM7_EXTENSION else 1 for ch in text]
        return SegmentCount("GSM-7", sum(sizes), _pack(sizes, GSM7_SINGLE, GSM7_MULTI))
    sizes = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
    return SegmentCount("UCS-2", sum(sizes), _pack(sizes, UCS2_SINGLE, UCS2_MULTI))
