"""Render one message: pick the template (the store's override, else the shipped default), fill it in a
Jinja2 sandbox, and turn email MJML into responsive HTML plus a plain-text part.

Shipped defaults live at ``messaging/templates/defaults/<milestone>/<kind>.<locale>.<ext>``
(``email.en.mjml``, ``sms.en.txt``, ``whatsapp.en.txt``). A default email template extends a shared
layout through ``{% extends layout %}``, so the same blocks render twice: once into the MJML layout
(HTML) and once into the text layout (the plain-text part). The subject is the template's ``subject``
block (defaults) or the override's ``subject`` field.

No network, ever: MJML is rendered with no web fonts (mrml links Google Fonts otherwise) and no includes
(DESIGN §7). Styles are inlined as MJML does it, from ``<mj-style inline="inline">``, by mrml itself.
"""

from __future__ import annotations

import hashlib
import json
import operator
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import mrml
from jinja2 import BaseLoader, FileSystemLoader, StrictUndefined, Template, TemplateError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from sqlalchemy.orm import Session

from doorstep import milestones
from doorstep.integrations.channels.protocol import Kind, Rendered
from doorstep.messaging import segments
from doorstep.messaging.context import TemplateContext

TEMPLATES = Path(__file__).resolve().parent / "templates"
DEFAULTS = TEMPLATES / "defaults"
LOCALES = ("en", "es", "fr", "de", "pt_BR")
FALLBACK_LOCALE = "en"
EXTENSIONS = {Kind.email: "mjml", Kind.sms: "txt", Kind.whatsapp: "txt"}
HTML_LAYOUT = "_layout/email.mjml"
TEXT_LAYOUT = "_layout/email.txt"

MAX_SOURCE_CHARS = 100_000  # a merchant template larger than this is refused at save time
MAX_OUTPUT_CHARS = 500_000  # a render that grows past this is stopped (string repetition bombs)


class RenderFailed(Exception):
    """A template could not be compiled or rendered; ``reason`` says where and why, for the merchant."""

    def __init__(self, reason: str, *, part: str = "body") -> None:
        super().__init__(reason)
        self.reason = reason
        self.part = part  # "subject", "body" or "text"


@dataclass(frozen=True)
class Source:
    """A template's text: a merchant override or a shipped default."""

    body: str  # MJML (email) or text (SMS, WhatsApp)
    subject: str | None = None  # email overrides only; defaults carry a ``subject`` block
    text: str | None = None  # email overrides only: an explicit plain-text part
    origin: str = "default"  # "default" or the override's public id


# --- the sandbox ------------------------------------------------------------------------------------


_DICT_ATTRIBUTES = frozenset(dir(dict))


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox (no attribute tricks, no mutation of lists or dicts) plus size limits on
    ``*`` and ``**``, so ``'x' * 10**9`` fails instead of exhausting memory."""

    intercepted_binops = frozenset({"*", "**"})

    def getattr(self, obj: Any, attribute: str) -> Any:
        # Template data is plain dicts, so ``store.name`` is a key. Jinja tries the attribute first, which
        # on a dict raises and catches AttributeError at every access: a third of a render's time. A name
        # that no dict has as an attribute can only ever resolve to the key, so look that up directly:
        # the same result (or the same undefined), without the exception.
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "**":
            if isinstance(right, int) and abs(right) > 64:
                raise SecurityError("exponent too large in a template")
            return operator.pow(left, right)
        if isinstance(left, str | list | tuple) and isinstance(right, int) and len(left) * right > 10_000:
            raise SecurityError("repetition too large in a template")
        if isinstance(right, str | list | tuple) and isinstance(left, int) and len(right) * left > 10_000:
            raise SecurityError("repetition too large in a template")
        return operator.mul(left, right)


def _env(*, autoescape: bool, loader: BaseLoader | None) -> _Sandbox:
    return _Sandbox(
        loader=loader,
        autoescape=autoescape,
        undefined=StrictUndefined,
        auto_reload=False,
        # HTML ignores the newlines block tags leave; text keeps them as written (Jinja's usual behaviour).
        trim_blocks=autoescape,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


# Compiling a template takes tens of milliseconds; worker threads that start together would each compile
# the same ones, so a miss compiles under one lock.
_COMPILING = threading.RLock()


@lru_cache(maxsize=1)
def _environments() -> tuple[_Sandbox, _Sandbox]:
    """(HTML env with autoescape, text env without) sharing the shipped templates as their loader, with
    the shared layouts (which every default email extends) compiled up front."""
    loader = FileSystemLoader(str(DEFAULTS))
    envs = _env(autoescape=True, loader=loader), _env(autoescape=False, loader=loader)
    for env in envs:
        for layout in (HTML_LAYOUT, TEXT_LAYOUT):
            env.get_template(layout)
    return envs


# --- locales ------------------------------------------------------------------------------------------


def normalize_locale(locale: str | None) -> str:
    """``pt-br``, ``pt_BR`` → ``pt_BR``; ``en-GB`` → ``en``; unknown → ``en``."""
    if not locale:
        return FALLBACK_LOCALE
    parts = re.split(r"[-_]", locale.strip())
    language = parts[0].lower()
    region = parts[1].upper() if len(parts) > 1 else ""
    if f"{language}_{region}" in LOCALES:
        return f"{language}_{region}"
    if language in LOCALES:
        return language
    return next((loc for loc in LOCALES if loc.split("_")[0] == language), FALLBACK_LOCALE)


def default_path(milestone: str, kind: Kind, locale: str) -> str:
    """The loader name of a shipped default, e.g. ``shipment.shipped/email.en.mjml``."""
    return f"{milestone}/{kind.value}.{locale}.{EXTENSIONS[kind]}"


@lru_cache(maxsize=512)
def default_source(milestone: str, kind: Kind, locale: str) -> Source:
    """The shipped default for the locale (falling back to English), read from the package once."""
    milestones.get(milestone)  # unknown names are a programming error
    for candidate in (normalize_locale(locale), FALLBACK_LOCALE):
        path = DEFAULTS / default_path(milestone, kind, candidate)
        if path.is_file():
            return Source(
                body=path.read_text(encoding="utf-8"),
                origin=f"default:{default_path(milestone, kind, candidate)}",
            )
    raise LookupError(f"no shipped {kind.value} template for {milestone}")


@lru_cache(maxsize=8)
def labels(locale: str) -> Mapping[str, str]:
    """Words the shared layouts need (\"Track your order\", \"Qty\"), per locale."""
    english: dict[str, str] = json.loads((DEFAULTS / "_layout" / "labels.en.json").read_text("utf-8"))
    path = DEFAULTS / "_layout" / f"labels.{locale}.json"
    localised: dict[str, str] = json.loads(path.read_text("utf-8")) if path.is_file() else {}
    return {**english, **localised}


# --- rendering ----------------------------------------------------------------------------------------


def _data(context: TemplateContext) -> dict[str, Any]:
    # Plain data only (dicts, lists, strings): the sandbox never sees a model or its methods.
    data: dict[str, Any] = context.model_dump(mode="json")
    return data


def _variables(data: dict[str, Any], locale: str, layout: str) -> dict[str, Any]:
    return {**data, "labels": dict(labels(locale)), "locale": locale, "layout": layout}


_COMPILED_MAX = 512
_COMPILED: dict[tuple[str, bool], Template] = {}  # read without the lock: every render is a hit


def _compile_cached(text: str, autoescape: bool) -> Template:
    key = (text, autoescape)
    compiled = _COMPILED.get(key)
    if compiled is not None:
        return compiled
    with _COMPILING:
        compiled = _COMPILED.get(key)  # another thread may have compiled it while this one waited
        if compiled is None:
            html_env, text_env = _environments()
            compiled = (html_env if autoescape else text_env).from_string(text)
            if len(_COMPILED) >= _COMPILED_MAX:
                del _COMPILED[next(iter(_COMPILED))]  # the oldest: a bound, as the lru_cache had
            _COMPILED[key] = compiled
    return compiled


def _compile(text: str, *, autoescape: bool, part: str) -> Template:
    if len(text) > MAX_SOURCE_CHARS:
        raise RenderFailed(f"the template is longer than {MAX_SOURCE_CHARS} characters", part=part)
    try:
        return _compile_cached(text, autoescape)
    except TemplateError as exc:
        lineno = getattr(exc, "lineno", None)
        line = f" (line {lineno})" if lineno else ""
        raise RenderFailed(f"{part} does not compile{line}: {exc.message or exc}", part=part) from exc


def _run(call: Callable[[], str], *, part: str) -> str:
    try:
        out = call()
    except SecurityError as exc:
        raise RenderFailed(f"{part} tried something the sandbox forbids: {exc}", part=part) from exc
    except TemplateError as exc:
        raise RenderFailed(f"{part} failed to render: {exc.message or exc}", part=part) from exc
    except (TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as exc:
        raise RenderFailed(f"{part} failed to render: {type(exc).__name__}: {exc}", part=part) from exc
    if len(out) > MAX_OUTPUT_CHARS:
        raise RenderFailed(f"{part} renders to more than {MAX_OUTPUT_CHARS} characters", part=part)
    return out


def _block(template: Template, name: str, variables: dict[str, Any]) -> str | None:
    block = template.blocks.get(name)
    if block is None:
        return None
    return "".join(block(template.new_context(variables))).strip()


def render_source(source: Source, *, kind: Kind, locale: str, context: TemplateContext) -> Rendered:
    """Render a template's source for one kind and locale. Raises :class:`RenderFailed` with the reason."""
    locale = normalize_locale(locale)
    if kind is Kind.email:
        return _render_email(source, locale, context)
    template = _compile(source.body, autoescape=False, part="body")
    text = _tidy_text(_run(lambda: template.render(_variables(_data(context), locale, "")), part="body"))
    if not text:
        raise RenderFailed("body renders to an empty message", part="body")
    if kind is Kind.sms:
        text = segments.fold_to_gsm7(text)
    count = segments.count(text)
    return Rendered(kind=kind, locale=locale, text=text, segments=count.segments, encoding=count.encoding)


def _render_email(source: Source, locale: str, context: TemplateContext) -> Rendered:
    html_template = _compile(source.body, autoescape=True, part="body")
    data = _data(context)
    mjml_source = _run(lambda: html_template.render(_variables(data, locale, HTML_LAYOUT)), part="body")
    if source.subject is not None:
        subject_template = _compile(source.subject, autoescape=False, part="subject")
        subject = _run(lambda: subject_template.render(_variables(data, locale, "")), part="subject")
    else:
        subject = _run(
            lambda: (
                _block(
                    _compile(source.body, autoescape=False, part="body"),
                    "subject",
                    _variables(data, locale, TEXT_LAYOUT),
                )
                or ""
            ),
            part="subject",
        )
    subject = " ".join(subject.split())
    if not subject:
        raise RenderFailed("the subject is empty: give a subject", part="subject")
    html = to_html(mjml_source)
    if source.text is not None:
        text_template = _compile(source.text, autoescape=False, part="text")
        text = _run(lambda: text_template.render(_variables(data, locale, "")), part="text")
    elif html_template.blocks and "{% extends layout %}" in source.body.replace("{%- ", "{% ").replace(
        " -%}", " %}"
    ):
        text_template = _compile(source.body, autoescape=False, part="text")
        text = _run(lambda: text_template.render(_variables(data, locale, TEXT_LAYOUT)), part="text")
    else:
        text = html_to_text(html)
    return Rendered(kind=Kind.email, locale=locale, text=_tidy_text(text), subject=subject, html=html)


_RENDER_OPTIONS = mrml.RenderOptions(disable_comments=True, fonts={})
_PARSER_OPTIONS = mrml.ParserOptions(include_loader=mrml.noop_loader())


def to_html(mjml_source: str) -> str:
    """MJML → responsive HTML; never fetches anything (no web fonts, no includes).

    Styles are inlined as MJML inlines them: the rules of ``<mj-style inline="inline">`` land in each
    matching element's ``style`` (mrml does it while rendering); a plain ``<mj-style>`` stays in the
    head, for clients that read it (media queries can only live there).
    """
    try:
        return str(
            mrml.to_html(mjml_source, parser_options=_PARSER_OPTIONS, render_options=_RENDER_OPTIONS).content
        )
    except Exception as exc:  # mrml raises plain exceptions for invalid MJML; report them to the merchant
        raise RenderFailed(f"body is not valid MJML: {exc}", part="body") from exc


def _tidy_text(text: str) -> str:
    lines = [line.rstrip() for line in text.strip().splitlines()]
    tidy: list[str] = []
    for line in lines:
        if line == "" and tidy and tidy[-1] == "":
            continue  # at most one blank line in a row
        tidy.append(line)
    return "\n".join(tidy)


class _TextExtractor(HTMLParser):
    _BREAKS = frozenset({"p", "div", "br", "tr", "h1", "h2", "h3", "li", "table"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script", "title", "head"):
            self._skip += 1
        elif tag in self._BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "title", "head"):
            self._skip = max(0, self._skip - 1)
        elif tag in self._BREAKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.parts.append(" ".join(data.split()))


def html_to_text(html: str) -> str:
    """A readable plain-text part for an HTML-only template (a merchant's own MJML)."""
    parser = _TextExtractor()
    parser.feed(html)
    return _tidy_text(re.sub(r"\n\s*\n+", "\n\n", "".join(parser.parts)))


def source_digest(source: Source) -> str:
    """A short hash of a template's text, recorded with a message to say which version rendered it."""
    raw = "\x00".join((source.body, source.subject or "", source.text or ""))
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


# --- the entry point messaging calls ---------------------------------------------------------------


@dataclass(frozen=True)
class OverrideFailed:
    """A store's override failed at send time and the shipped default went out instead: keep why."""

    origin: str  # the override's public id
    reason: str


def render_chosen(
    overrides: Mapping[tuple[str, Kind, str], Source],
    *,
    milestone: str,
    kind: Kind,
    locale: str,
    context: TemplateContext,
) -> tuple[Rendered, OverrideFailed | None]:
    """The message for one milestone, kind and locale, from the store's enabled ``overrides`` when one
    matches, else the shipped default (pure: no session). An override that fails at send time (it passed
    the check at save time, so this means data it did not expect) falls back to the default rather than
    losing the message, and says so. Raises :class:`RenderFailed` if the default fails too, and
    :class:`LookupError` if no default is shipped for the milestone and kind."""
    locale = normalize_locale(locale)
    failed = None
    override = overrides.get((milestone, kind, locale))
    if override is not None:
        try:
            return render_source(override, kind=kind, locale=locale, context=context), None
        except RenderFailed as exc:
            failed = OverrideFailed(override.origin, exc.reason)
    default = default_source(milestone, kind, locale)
    return render_source(default, kind=kind, locale=locale, context=context), failed


def render(
    session: Session,
    *,
    store_id: int,
    milestone: str,
    kind: Kind,
    locale: str,
    context: TemplateContext,
) -> Rendered:
    """:func:`render_chosen` with the store's overrides read from the database, and an override's
    failure recorded on it (for previews and callers holding a session)."""
    from doorstep.message_templates import service as template_service  # overrides build on this module

    locale = normalize_locale(locale)
    override = template_service.find_override(
        session, store_id=store_id, milestone=milestone, kind=kind, locale=locale
    )
    overrides = {(milestone, kind, locale): override} if override is not None else {}
    rendered, failed = render_chosen(
        overrides, milestone=milestone, kind=kind, locale=locale, context=context
    )
    if failed is not None:
        template_service.record_failure(
            session, store_id=store_id, origin=failed.origin, reason=failed.reason
        )
    return rendered
