"""What every shopper page shares: the Jinja environment (autoescape on), security headers, language links."""

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, Template

from doorstep.portal import i18n, theme

TEMPLATES = Path(__file__).resolve().parent / "templates"

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' https: data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


@lru_cache(maxsize=1)
def environment() -> Environment:
    # Autoescape everything: merchant and carrier text is data. Only the sanitised custom CSS is served
    # raw, and that in its own stylesheet (or the preview's hashed <style>), never inside HTML markup.
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )


def template(name: str) -> Template:
    return environment().get_template(name)


def secure(response: Response, csp: str = CSP) -> Response:
    response.headers.update(SECURITY_HEADERS)
    response.headers["Content-Security-Policy"] = csp
    return response


def language_links(request: Request) -> list[tuple[str, str, str]]:
    """(code, name, href) for each language: the same URL with ``?lang=``."""
    params = {k: v for k, v in request.query_params.items() if k != "lang"}
    return [
        (code, i18n.NAMES[code], f"{request.url.path}?{urlencode({**params, 'lang': code})}")
        for code in i18n.SUPPORTED
    ]


def page(name: str, lang: i18n.Lang, context: Mapping[str, Any]) -> str:
    return template(name).render(_=lang._, lang=lang, css_url=theme.portal_css_url(), **context)


def html(body: str | bytes, status_code: int = 200, headers: Mapping[str, str] | None = None) -> HTMLResponse:
    # The security headers go in with the others: one header list built once, not edited afterwards.
    return HTMLResponse(body, status_code=status_code, headers={**(headers or {}), **SECURITY_HEADERS})


def gone(lang: i18n.Lang, *, lookup_url: str | None = None, status_code: int = 404) -> HTMLResponse:
    """The one answer for an unknown, rotated or foreign link: says nothing about which."""
    body = page(
        "gone.html",
        lang,
        {
            "title": lang._("This tracking link does not work"),
            "detail": lang._(
                "It may have been replaced by a newer link. Use the latest e-mail from the store, or look up your order."
            ),
            "lookup_url": lookup_url,
        },
    )
    return html(body, status_code, {"Cache-Control": "no-store"})
