"""Merchant template overrides: the only writer of ``message_templates``.

A template is checked when it is saved: it must compile and render against the sample context (in the
store's branding) for its kind, or the save is a 422 naming the part and the reason. Sending therefore
never meets a broken template; if an override still fails on real data, messaging sends the default
and :func:`record_failure` keeps the reason on the override for the merchant.
"""

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from doorstep import milestones
from doorstep.core import clock, ids
from doorstep.core.errors import Conflict, FieldProblem, Invalid, NotFound
from doorstep.core.pagination import paginate
from doorstep.core.tenancy import scoped
from doorstep.integrations.channels.protocol import Kind, Rendered
from doorstep.message_templates.models import MessageTemplate
from doorstep.message_templates.schemas import TemplateCreate, TemplateUpdate
from doorstep.messaging import render
from doorstep.messaging.context import TemplateContext, sample_context, store_context_of
from doorstep.stores import service as store_service

_FIXES = {
    "subject": "fix the subject's Jinja syntax or the names it uses (see docs/messages.md for the context)",
    "body": "fix the body's Jinja/MJML; every name must exist in the template context (docs/messages.md)",
    "text": "fix the text part's Jinja syntax or the names it uses (docs/messages.md)",
}


@dataclass(frozen=True)
class DefaultTemplate:
    """A shipped default, as the API lists it."""

    milestone: str
    kind: Kind
    locale: str
    source: render.Source


def _check(kind: Kind, subject: str | None, text: str | None) -> None:
    if kind is not Kind.email and (subject is not None or text is not None):
        field = "subject" if subject is not None else "text"
        raise Invalid.field(field, f"only email templates have a {field}", f"remove {field} for {kind.value}")
    if kind is Kind.email and not (subject or "").strip():
        raise Invalid.field("subject", "an email template needs a subject", "give a subject line")


def _validate(
    session: Session, store_id: int, source: render.Source, kind: Kind, locale: str, milestone: str
) -> Rendered:
    """Render against the sample data for this milestone, in the store's branding and the template's
    language (an order milestone has no parcel); a failure is a 422 naming the part."""
    store = store_service.get_store(session, store_id=store_id)
    context = sample_context(store_context_of(store), locale=locale, milestone=milestone)
    try:
        return render.render_source(source, kind=kind, locale=locale, context=context)
    except render.RenderFailed as exc:
        raise Invalid(
            f"the template does not render: {exc.reason}",
            problems=[FieldProblem(exc.part, exc.reason, _FIXES[exc.part])],
        ) from exc


def create_template(session: Session, *, store_id: int, cmd: TemplateCreate) -> MessageTemplate:
    locale = render.normalize_locale(cmd.locale)
    _check(cmd.kind, cmd.subject, cmd.text)
    source = render.Source(body=cmd.body, subject=cmd.subject, text=cmd.text)
    _validate(session, store_id, source, cmd.kind, locale, cmd.milestone)
    now = clock.now()
    row = MessageTemplate(
        public_id=ids.new_id("tpl"),
        store_id=store_id,
        milestone=cmd.milestone,
        kind=cmd.kind.value,
        locale=locale,
        subject=cmd.subject,
        body=cmd.body,
        text=cmd.text,
        is_enabled=cmd.is_enabled,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"this store already has a {cmd.kind.value} template for {cmd.milestone} in {locale}: "
            "update it with PATCH /api/v1/templates/{id}"
        ) from exc
    return row


def update_template(
    session: Session, *, store_id: int, template_id: str, cmd: TemplateUpdate
) -> MessageTemplate:
    row = get_template(session, store_id=store_id, template_id=template_id)
    kind = Kind(row.kind)
    fields = cmd.model_fields_set
    subject = cmd.subject if "subject" in fields else row.subject
    text = cmd.text if "text" in fields else row.text
    body = cmd.body if "body" in fields and cmd.body is not None else row.body
    _check(kind, subject, text)
    _validate(
        session,
        store_id,
        render.Source(body=body, subject=subject, text=text),
        kind,
        row.locale,
        row.milestone,
    )
    row.subject, row.text, row.body = subject, text, body
    if "is_enabled" in fields and cmd.is_enabled is not None:
        row.is_enabled = cmd.is_enabled
    row.last_failure = None
    row.last_failure_at = None
    row.updated_at = clock.now()
    session.flush()
    return row


def get_template(session: Session, *, store_id: int, template_id: str) -> MessageTemplate:
    stmt = scoped(select(MessageTemplate), MessageTemplate, store_id).where(
        MessageTemplate.public_id == template_id
    )
    row = session.scalars(stmt).one_or_none()
    if row is None:
        raise NotFound(f"template {template_id} not found")
    return row


def list_templates(
    session: Session, *, store_id: int, milestone: str | None, limit: int, cursor: str | None
) -> tuple[list[MessageTemplate], str | None]:
    stmt = scoped(select(MessageTemplate), MessageTemplate, store_id)
    if milestone is not None:
        stmt = stmt.where(MessageTemplate.milestone == milestone)
    return paginate(session, stmt, MessageTemplate, limit=limit, cursor=cursor)


def delete_template(session: Session, *, store_id: int, template_id: str) -> None:
    """Remove an override: the shipped default applies again."""
    session.delete(get_template(session, store_id=store_id, template_id=template_id))
    session.flush()


def find_override(
    session: Session, *, store_id: int, milestone: str, kind: Kind, locale: str
) -> render.Source | None:
    """The store's enabled override for exactly this milestone, kind and locale, if any."""
    stmt = scoped(select(MessageTemplate), MessageTemplate, store_id).where(
        MessageTemplate.milestone == milestone,
        MessageTemplate.kind == kind.value,
        MessageTemplate.locale == locale,
        MessageTemplate.is_enabled.is_(True),
    )
    row = session.scalars(stmt).one_or_none()
    return _source(row) if row is not None else None


def enabled_overrides(session: Session, *, store_id: int) -> dict[tuple[str, Kind, str], render.Source]:
    """Every enabled override of the store by (milestone, kind, locale): one query for a batch of sends."""
    stmt = scoped(select(MessageTemplate), MessageTemplate, store_id).where(
        MessageTemplate.is_enabled.is_(True)
    )
    return {(row.milestone, Kind(row.kind), row.locale): _source(row) for row in session.scalars(stmt)}


def _source(row: MessageTemplate) -> render.Source:
    return render.Source(body=row.body, subject=row.subject, text=row.text, origin=row.public_id)


def record_failure(session: Session, *, store_id: int, origin: str, reason: str) -> None:
    """Keep why an override failed at send time (the default went out instead)."""
    stmt = scoped(select(MessageTemplate), MessageTemplate, store_id).where(
        MessageTemplate.public_id == origin
    )
    row = session.scalars(stmt).one_or_none()
    if row is not None:
        row.last_failure = reason[:2000]
        row.last_failure_at = clock.now()
        session.flush()


def list_defaults(
    *, milestone: str | None = None, kind: Kind | None = None, locale: str | None = None
) -> list[DefaultTemplate]:
    """The shipped defaults (what a store gets without overrides)."""
    found: list[DefaultTemplate] = []
    for name in milestones.MILESTONES:
        if milestone is not None and name != milestone:
            continue
        for k in Kind:
            if kind is not None and k is not kind:
                continue
            for loc in render.LOCALES:
                if locale is not None and loc != render.normalize_locale(locale):
                    continue
                path = render.DEFAULTS / render.default_path(name, k, loc)
                if path.is_file():
                    found.append(DefaultTemplate(name, k, loc, render.default_source(name, k, loc)))
    return found


def preview(
    session: Session,
    *,
    store_id: int,
    template_id: str,
    context: TemplateContext | None,
    base_url: str | None = None,
) -> Rendered:
    """Render a saved override, or a default named ``<milestone>:<kind>:<locale>``, with sample or given data."""
    source, kind, locale, milestone = resolve_source(session, store_id=store_id, template_id=template_id)
    if context is None:
        store = store_service.get_store(session, store_id=store_id)
        context = sample_context(
            store_context_of(store), base_url=(base_url or "https://doorstep.example").rstrip("/"),
            locale=locale, milestone=milestone,
        )  # fmt: skip
    try:
        return render.render_source(source, kind=kind, locale=locale, context=context)
    except render.RenderFailed as exc:
        raise Invalid(
            f"the template does not render with this data: {exc.reason}",
            problems=[FieldProblem(exc.part, exc.reason, _FIXES[exc.part])],
        ) from exc


def resolve_source(
    session: Session, *, store_id: int, template_id: str
) -> tuple[render.Source, Kind, str, str]:
    """(source, kind, locale, milestone) for an override id (``tpl_…``) or a default id
    (``shipment.shipped:email:en``, the store's override for it if any)."""
    if ids.has_prefix(template_id, "tpl"):
        row = get_template(session, store_id=store_id, template_id=template_id)
        return _source(row), Kind(row.kind), row.locale, row.milestone
    parts = template_id.split(":")
    if len(parts) != 3 or parts[0] not in milestones.MILESTONES or parts[1] not in Kind.__members__:
        raise NotFound(
            f"template {template_id} not found: use an override id (tpl_…) or <milestone>:<kind>:<locale>, "
            "e.g. shipment.shipped:email:en"
        )
    kind, locale = Kind(parts[1]), render.normalize_locale(parts[2])
    override = find_override(session, store_id=store_id, milestone=parts[0], kind=kind, locale=locale)
    return override or render.default_source(parts[0], kind, locale), kind, locale, parts[0]
