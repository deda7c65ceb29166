"""Brand settings as pure rules: colour parsing and WCAG contrast, safe font stacks, custom CSS sanitising.

Used by the branding command (validation), the branding API (contrast warnings) and the shopper pages
(theme CSS). No I/O.
"""

import re
from dataclasses import dataclass

HEX = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
# Font family names, commas, quotes, spaces and dashes only: nothing that can end the declaration.
FONT_STACK = re.compile(r"^[A-Za-z0-9 ,'\"\-]{1,300}$")
HOSTNAME = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
MAX_CSS_CHARS = 10_000

DEFAULTS = {
    "primary_color": "#1f5f4a",
    "accent_color": "#2f7d63",
    "background_color": "#ffffff",
    "font_stack": 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif',
}

AA_TEXT = 4.5  # WCAG 2.2 1.4.3, body text
AA_UI = 3.0  # WCAG 2.2 1.4.11, non-text (progress bar, borders)
DARK = "#1b1b1b"
LIGHT = "#ffffff"


def normalize_hex(value: str) -> str:
    """``#abc`` or ``#AABBCC`` → ``#aabbcc``; ValueError for anything else."""
    if not HEX.match(value):
        raise ValueError(f"{value!r} is not a hex colour")
    digits = value[1:].lower()
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return f"#{digits}"


def _channels(color: str) -> tuple[int, int, int]:
    digits = normalize_hex(color)[1:]
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def luminance(color: str) -> float:
    """Relative luminance (WCAG 2.x)."""

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = _channels(color)
    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)


def contrast(a: str, b: str) -> float:
    """Contrast ratio between two colours, 1.0 to 21.0."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def readable_on(background: str) -> str:
    """Near-black or white, whichever reads better on ``background``."""
    return DARK if contrast(DARK, background) >= contrast(LIGHT, background) else LIGHT


def mix(color: str, target: str, share: float) -> str:
    r1, g1, b1 = _channels(color)
    r2, g2, b2 = _channels(target)
    return "#{:02x}{:02x}{:02x}".format(
        *(round(c1 + (c2 - c1) * share) for c1, c2 in ((r1, r2), (g1, g2), (b1, b2)))
    )


def ensure_contrast(color: str, background: str, ratio: float) -> str:
    """``color`` itself when it reaches ``ratio`` on ``background``, else the nearest shade that does."""
    if contrast(color, background) >= ratio:
        return normalize_hex(color)
    target = readable_on(background)
    for step in range(1, 21):
        shade = mix(color, target, step / 20)
        if contrast(shade, background) >= ratio:
            return shade
    return target


@dataclass(frozen=True)
class Warning:
    field: str
    message: str
    fix: str


def contrast_warnings(primary: str, accent: str, background: str) -> list[Warning]:
    """Where the brand's colours fail WCAG AA; the pages then use the nearest passing shade."""
    warnings: list[Warning] = []
    ratio = contrast(primary, background)
    if ratio < AA_TEXT:
        warnings.append(
            Warning(
                "primary_color",
                f"{primary} on the background {background} has a contrast of {ratio:.2f}:1; "
                f"links and headings need {AA_TEXT}:1 (WCAG AA)",
                f"pick a {'darker' if readable_on(background) == DARK else 'lighter'} primary colour; "
                f"pages use {ensure_contrast(primary, background, AA_TEXT)} for text until then",
            )
        )
    on_primary = readable_on(primary)
    if contrast(on_primary, primary) < AA_TEXT:
        warnings.append(
            Warning(
                "primary_color",
                f"neither dark nor white text reaches {AA_TEXT}:1 on buttons coloured {primary}",
                "pick a darker or lighter primary colour",
            )
        )
    ratio = contrast(accent, background)
    if ratio < AA_UI:
        warnings.append(
            Warning(
                "accent_color",
                f"{accent} on the background {background} has a contrast of {ratio:.2f}:1; "
                f"the progress bar needs {AA_UI}:1 (WCAG AA, non-text)",
                f"pick a stronger accent colour; pages use {ensure_contrast(accent, background, AA_UI)} until then",
            )
        )
    return warnings


_COMMENT = re.compile(r"/\*.*?(\*/|$)", re.S)
_ESCAPE = re.compile(r"\\[0-9a-fA-F]{1,6}\s?|\\.", re.S)
_IMPORT = re.compile(r"@import\b[^;]*;?", re.I)
_URL = re.compile(r"url\(\s*(['\"]?)(.*?)\1\s*\)", re.I | re.S)
_EXPRESSION = re.compile(r"expression\s*\(", re.I)
_DANGEROUS = re.compile(r"javascript:|vbscript:|-moz-binding|behavior\s*:", re.I)
_STYLE_CLOSE = re.compile(r"</\s*style", re.I)


@dataclass(frozen=True)
class SanitizedCss:
    css: str
    removed: list[str]


def sanitize_css(css: str) -> SanitizedCss:
    """Merchant CSS made safe to serve from our origin.

    Comments and backslash escapes go first (they hide keywords); then ``@import``, ``url()`` to
    anything but https, ``expression()``, script-ish values and ``</style`` and any ``<``.
    """
    removed: list[str] = []
    text = css.replace("\x00", "")
    if _COMMENT.search(text):
        text = _COMMENT.sub("", text)
    if _ESCAPE.search(text):
        removed.append("backslash escapes")
        text = _ESCAPE.sub("", text)
    if _IMPORT.search(text):
        removed.append("@import")
        text = _IMPORT.sub("", text)

    def _url(match: re.Match[str]) -> str:
        target = match.group(2).strip()
        if target.lower().startswith("https://") and not re.search(r"[\s'\"()<>]", target):
            return f'url("{target}")'
        removed.append(f"url({target[:60]})")
        return "none"

    text = _URL.sub(_url, text)
    for pattern, label in ((_EXPRESSION, "expression()"), (_DANGEROUS, "script in CSS")):
        if pattern.search(text):
            removed.append(label)
            text = pattern.sub("", text)
    if _STYLE_CLOSE.search(text) or "<" in text:
        removed.append("</style> and <")
        text = text.replace("<", "")
    return SanitizedCss(text.strip(), removed)
