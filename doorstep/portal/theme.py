"""Brand theming for the shopper pages: the store's colours and fonts as CSS variables, plus its custom CSS.

The page links two stylesheets from our own origin (CSP ``style-src 'self'``): ``portal.css`` (the
layout, identical for every store) and the store's theme (a few variables and the sanitised custom CSS).
Both URLs carry a content hash, so browsers cache them for a year and a change is a new URL.
"""

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from doorstep.stores import branding

STATIC = Path(__file__).resolve().parent / "static"


@dataclass(frozen=True)
class Theme:
    logo_url: str | None
    favicon_url: str | None
    css: str  # the theme stylesheet's text
    digest: str  # short content hash, part of its URL


@lru_cache(maxsize=1)
def portal_css() -> tuple[bytes, str]:
    """portal.css and its short content hash."""
    body = (STATIC / "portal.css").read_bytes()
    return body, hashlib.sha256(body).hexdigest()[:12]


def portal_css_url() -> str:
    return f"/t/assets/portal.{portal_css()[1]}.css"


def _settings(raw: Mapping[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = dict(branding.DEFAULTS)
    merged.update({k: v for k, v in raw.items() if v not in (None, "")})
    return merged


def build_theme(raw: Mapping[str, Any]) -> Theme:
    """The theme for a store's branding (stored or draft). Colours that fail AA are nudged until they pass."""
    b = _settings(raw)
    try:
        background = branding.normalize_hex(str(b["background_color"]))
        primary = branding.normalize_hex(str(b["primary_color"]))
        accent = branding.normalize_hex(str(b["accent_color"]))
    except ValueError:
        background, primary, accent = (
            branding.DEFAULTS["background_color"],
            branding.DEFAULTS["primary_color"],
            branding.DEFAULTS["accent_color"],
        )
    font = (
        str(b["font_stack"])
        if branding.FONT_STACK.match(str(b["font_stack"]))
        else branding.DEFAULTS["font_stack"]
    )
    text = branding.readable_on(background)
    variables = {
        "--bg": background,
        "--fg": text,
        "--muted": branding.ensure_contrast(
            branding.mix(text, background, 0.35), background, branding.AA_TEXT
        ),
        "--primary": branding.ensure_contrast(primary, background, branding.AA_TEXT),
        "--button": primary,
        "--on-button": branding.readable_on(primary),
        "--accent": branding.ensure_contrast(accent, background, branding.AA_UI),
        "--line": branding.mix(text, background, 0.82),
        "--panel": branding.mix(text, background, 0.96),
        "--font": font,
    }
    css = ":root{" + ";".join(f"{k}:{v}" for k, v in variables.items()) + "}\n"
    custom = str(b.get("custom_css") or "")
    if custom:
        css += branding.sanitize_css(custom).css + "\n"  # sanitised again: stored data may predate a rule
    digest = hashlib.sha256(css.encode()).hexdigest()[:12]
    return Theme(_https(b.get("logo_url")), _https(b.get("favicon_url")), css, digest)


def _https(value: object) -> str | None:
    return value if isinstance(value, str) and value.startswith("https://") else None


def theme_url(store_public_id: str, theme: Theme) -> str:
    return f"/t/assets/theme/{store_public_id}.{theme.digest}.css"
