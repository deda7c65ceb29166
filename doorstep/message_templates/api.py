"""/api/v1/templates: a store's own message templates, the shipped defaults, previews and test sends.

Creating is naturally idempotent (one template per milestone, kind and locale: a repeat is a 409).
"""

from typing import Annotated

import httpx
from fastapi import APIRouter, Query, Response

from doorstep.db import transaction
from doorstep.integrations.channels.protocol import Kind
from doorstep.message_templates import sending
from doorstep.message_templates import service as template_service
from doorstep.message_templates.schemas import (
    DefaultTemplateRead,
    PreviewRead,
    PreviewRequest,
    TemplateCreate,
    TemplatePage,
    TemplateRead,
    TemplateUpdate,
    TestSendRead,
    TestSendRequest,
)
from doorstep.web.deps import AppSettings, CurrentStore, Cursor, Db, Limit

router = APIRouter(prefix="/templates", tags=["templates"])


@router.get("")
def list_templates(
    db: Db, store: CurrentStore, limit: Limit, cursor: Cursor = None,
    milestone: Annotated[str | None, Query(description="Only this milestone's templates.")] = None,
) -> TemplatePage:  # fmt: skip
    """The store's own templates (overrides); a milestone, kind and locale without one uses the default."""
    with transaction(db) as session:
        rows, next_cursor = template_service.list_templates(
            session, store_id=store.id, milestone=milestone, limit=limit, cursor=cursor
        )
        return TemplatePage(data=[TemplateRead.of(r) for r in rows], next_cursor=next_cursor)


@router.get("/defaults")
def list_default_templates(
    store: CurrentStore,
    milestone: Annotated[str | None, Query()] = None,
    kind: Annotated[Kind | None, Query()] = None,
    locale: Annotated[str | None, Query()] = None,
) -> list[DefaultTemplateRead]:
    """The shipped defaults; each id (``<milestone>:<kind>:<locale>``) can be previewed or test-sent."""
    return [
        DefaultTemplateRead(
            id=f"{d.milestone}:{d.kind.value}:{d.locale}",
            milestone=d.milestone,
            kind=d.kind,
            locale=d.locale,
            body=d.source.body,
        )
        for d in template_service.list_defaults(milestone=milestone, kind=kind, locale=locale)
    ]


@router.post("", status_code=201)
def create_template(cmd: TemplateCreate, db: Db, store: CurrentStore) -> TemplateRead:
    """Save the store's own template. It must compile and render with the sample data, or this is a 422
    naming the part (subject, body or text) and the reason; nothing is saved."""
    with transaction(db) as session:
        return TemplateRead.of(template_service.create_template(session, store_id=store.id, cmd=cmd))


@router.get("/{template_id}")
def get_template(template_id: str, db: Db, store: CurrentStore) -> TemplateRead:
    with transaction(db) as session:
        return TemplateRead.of(
            template_service.get_template(session, store_id=store.id, template_id=template_id)
        )


@router.patch("/{template_id}")
def update_template(template_id: str, cmd: TemplateUpdate, db: Db, store: CurrentStore) -> TemplateRead:
    """Change a template; checked like a new one (a 422 leaves the saved version unchanged)."""
    with transaction(db) as session:
        row = template_service.update_template(session, store_id=store.id, template_id=template_id, cmd=cmd)
        return TemplateRead.of(row)


@router.delete("/{template_id}", status_code=204)
def delete_template(template_id: str, db: Db, store: CurrentStore) -> Response:
    """Remove the store's template: the shipped default applies again."""
    with transaction(db) as session:
        template_service.delete_template(session, store_id=store.id, template_id=template_id)
    return Response(status_code=204)


@router.post("/{template_id}/preview")
def preview_template(
    template_id: str, db: Db, settings: AppSettings, store: CurrentStore, body: PreviewRequest | None = None
) -> PreviewRead:
    """Render a template (``tpl_…``, or a default ``<milestone>:<kind>:<locale>``) with the sample data in
    the store's branding, or with the context given; email answers with subject, HTML and text."""
    with transaction(db) as session:
        rendered = template_service.preview(
            session,
            store_id=store.id,
            template_id=template_id,
            context=body.context if body else None,
            base_url=settings.base_url,
        )
        return PreviewRead.of(rendered)


@router.post("/{template_id}/test-send")
def test_send_template(
    template_id: str, cmd: TestSendRequest, db: Db, settings: AppSettings, store: CurrentStore
) -> TestSendRead:
    """Send the template, rendered with the sample data, to an address you give, through the store's
    channel for its kind (devbox where no provider is connected and devbox is enabled)."""
    with httpx.Client() as client:
        channel, address, sent = sending.test_send(
            db, settings=settings, client=client, store_id=store.id, template_id=template_id, to=cmd.to
        )
    return TestSendRead(channel=channel, to=address, provider_message_id=sent.provider_message_id)
