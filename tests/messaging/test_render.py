"""Rendering: every shipped default in every kind and locale, email HTML that loads nothing remote, SMS
segment budgets, and the sandbox refusing what a merchant template must not do."""

import re

import pytest

from doorstep import milestones
from doorstep.integrations.channels.protocol import Kind, Rendered
from doorstep.messaging import render, segments
from doorstep.messaging.context import (
    CustomerContext,
    LinksContext,
    OrderContext,
    StoreContext,
    TemplateContext,
    sample_context,
)

BASE = "https://track.example"
LOGO = "https://cdn.acme.example/logo.png"
IMAGE = "https://cdn.acme.example/p/runner.jpg"
# A realistic shopper link: the tracking page with its 32-character token.
TRACKING = f"{BASE}/t/Vq3kZ8pL2mN7xR4tY6wB1cD9fG0hJ5sA"
PIXEL = f"{BASE}/e/o/msg_0123/sig.gif"


def context(**overrides: object) -> TemplateContext:
    base = sample_context(
        StoreContext(name="Acme Outfitters", logo_url=LOGO, support_email="help@acme.example"), base_url=BASE
    )
    items = [item.model_copy(update={"image_url": IMAGE}) for item in base.order.items]
    links = base.links.model_copy(update={"tracking": TRACKING, "open_pixel": PIXEL})
    return base.model_copy(
        update={"order": base.order.model_copy(update={"items": items}), "links": links, **overrides}
    )


CASES = [(m, k, loc) for m in milestones.MILESTONES for k in Kind for loc in render.LOCALES]


@pytest.mark.parametrize(
    ("milestone", "kind", "locale"), CASES, ids=[f"{m}-{k.value}-{loc}" for m, k, loc in CASES]
)
def test_every_default_renders(milestone: str, kind: Kind, locale: str) -> None:
    # given the shipped default; when it renders with a full context
    source = render.default_source(milestone, kind, locale)
    assert (
        source.origin == f"default:{milestone}/{kind.value}.{locale}.{render.EXTENSIONS[kind]}"
    )  # no fallback used
    rendered = render.render_source(source, kind=kind, locale=locale, context=context())
    assert rendered.locale == locale
    assert "#1042" in rendered.text
    if kind is Kind.email:
        assert rendered.subject
        assert "#1042" in rendered.subject
        assert rendered.html is not None
        html = rendered.html
        # then the HTML carries the order, the items with their images, brand colour and logo, the tracking link
        assert "#1042" in html
        assert "Trail Runner" in html
        assert IMAGE in html
        assert LOGO in html
        assert "#1f5f4a" in html.lower()
        assert TRACKING in html
        assert TRACKING in rendered.text
        assert f'src="{PIXEL}"' in html
        # and loads nothing but the store's own images and Doorstep's links
        resources = re.findall(r'(?:src|background)="([^"]+)"', html) + re.findall(r"url\(([^)]+)\)", html)
        assert resources
        assert all(url.startswith((BASE, "https://cdn.acme.example/")) for url in resources), resources
        assert "<link" not in html
        assert "<script" not in html
        assert "@import" not in html
        assert "googleapis" not in html
        assert f'lang="{locale.replace("_", "-")}"' in html
        # every http(s) URL in the HTML is one of ours or the store's (XML namespaces aside)
        urls = set(re.findall(r"https?://[^\s\"'<>)]+", html)) - {"http://www.w3.org/1999/xhtml"}
        assert all(
            u.startswith((BASE, "https://cdn.acme.example/")) or u.startswith("mailto:") for u in urls
        ), urls
    else:
        assert rendered.subject is None
        assert rendered.html is None
        assert TRACKING in rendered.text or milestone in ("shipment.returned", "refund.issued")
    if kind is Kind.sms:
        # default SMS texts stay within two GSM-7 segments (accents folded, nothing lost)
        assert rendered.encoding == "GSM-7"
        assert rendered.segments is not None
        assert rendered.segments <= 2


def test_the_email_greets_by_name_and_escapes_what_the_data_carries() -> None:
    hostile = context(customer=CustomerContext(first_name='<script>alert("x")</script>'))
    rendered = render.render_source(
        render.default_source("shipment.delivered", Kind.email, "en"),
        kind=Kind.email,
        locale="en",
        context=hostile,
    )
    assert rendered.html is not None
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;" in rendered.html
    # the plain-text part is text: no HTML escaping there
    assert 'Hi <script>alert("x")</script>,' in rendered.text


def test_a_missing_shipment_or_remedy_is_fine() -> None:
    ctx = context(shipment=None, remedy=None)
    for kind in Kind:
        rendered = render.render_source(
            render.default_source("order.placed", kind, "de"), kind=kind, locale="de", context=ctx
        )
        assert "#1042" in rendered.text


@pytest.mark.parametrize(
    ("asked", "expected"),
    [
        ("pt-BR", "pt_BR"),
        ("pt", "pt_BR"),
        ("es_MX", "es"),
        ("de-AT", "de"),
        ("FR", "fr"),
        ("ja", "en"),
        (None, "en"),
    ],
)
def test_locales_fall_back_sensibly(asked: str | None, expected: str) -> None:
    assert render.normalize_locale(asked) == expected


def test_sms_accents_fold_to_gsm7_only_when_that_makes_the_whole_text_gsm7() -> None:
    assert segments.fold_to_gsm7("Olá, você já está aí?") == "Ola, voce ja esta ai?"
    assert segments.fold_to_gsm7("Café «chaud» — prêt…") == 'Café "chaud" - pret...'  # é is GSM-7 itself
    emoji = "Olá 📦"
    assert segments.fold_to_gsm7(emoji) == emoji  # UCS-2 anyway: keep every character


SAMPLE = TemplateContext(
    store=StoreContext(name="Acme"),
    order=OrderContext(number="#1"),
    links=LinksContext(tracking="https://track.example/t/x"),
)


def _sms(body: str) -> Rendered:
    """A merchant's SMS template rendered with the sample context."""
    return render.render_source(render.Source(body=body), kind=Kind.sms, locale="en", context=SAMPLE)


@pytest.mark.parametrize(
    "body",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ store.__class__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ self._TemplateReference__context }}",
        "{% set x = order['items'].append(1) %}{{ x }}",
        "{{ 'x' * 100000000 }}",
        "{{ 9 ** 9999999 }}",
        "{% for i in range(10**9) %}{{ i }}{% endfor %}",
    ],
)
def test_the_sandbox_refuses_escapes_and_bombs(body: str) -> None:
    with pytest.raises(render.RenderFailed) as failure:
        _sms(body)
    assert failure.value.part == "body"


def test_unknown_names_and_bad_syntax_fail_with_a_reason() -> None:
    with pytest.raises(render.RenderFailed, match="does not compile"):
        _sms("Hi {{ customer.first_name")
    with pytest.raises(render.RenderFailed, match="undefined"):
        _sms("Hi {{ customr.first_name }}")
    with pytest.raises(render.RenderFailed, match="subject"):
        render.render_source(
            render.Source(body="<mjml><mj-body></mj-body></mjml>", subject="{{ order.nope }}"),
            kind=Kind.email, locale="en", context=SAMPLE,
        )  # fmt: skip


def test_a_merchant_mjml_template_without_the_layout_gets_a_text_part_from_its_html() -> None:
    body = (
        "<mjml><mj-body><mj-section><mj-column>"
        "<mj-text>Hello {{ customer.first_name or 'there' }}, order {{ order.number }} ships soon.</mj-text>"
        '<mj-button href="{{ links.tracking }}">Track</mj-button>'
        "</mj-column></mj-section></mj-body></mjml>"
    )
    rendered = render.render_source(
        render.Source(body=body, subject="Order {{ order.number }}"),
        kind=Kind.email,
        locale="en",
        context=SAMPLE,
    )
    assert rendered.subject == "Order #1"
    assert "Hello there, order #1 ships soon." in rendered.text
    assert "<" not in rendered.text


@pytest.mark.parametrize(
    ("milestone", "locale"), [(m, loc) for m in milestones.MILESTONES for loc in render.LOCALES]
)
def test_every_default_renders_with_only_what_its_milestone_carries(milestone: str, locale: str) -> None:
    # an order or refund milestone has no parcel; only "delayed" carries a remedy
    ctx = sample_context(locale=locale, milestone=milestone)
    assert (ctx.shipment is None) == (not milestone.startswith("shipment."))
    assert (ctx.remedy is not None) == (milestone == "shipment.delayed")
    for kind in Kind:
        rendered = render.render_source(
            render.default_source(milestone, kind, locale), kind=kind, locale=locale, context=ctx
        )
        assert "#1042" in rendered.text
        if kind is Kind.email:
            assert rendered.html is not None
            assert ("SORRY10" in rendered.html) == (milestone == "shipment.delayed")


def test_a_dot_on_template_data_reads_the_key_unless_dicts_have_that_attribute() -> None:
    """The sandbox's shortcut for plain dicts (no AttributeError per access) resolves names exactly as
    Jinja does: ``d.name`` is the key, ``d.items`` still the method, a missing key still undefined."""
    env = render._environments()[1]
    data = {"d": {"name": "Ana", "items": "not the method", "count": 0}}
    assert env.from_string("{{ d.name }} {{ d.count }}").render(data) == "Ana 0"
    assert (
        env.from_string("{% for k, v in d.items() %}{{ k }};{% endfor %}").render(data) == "name;items;count;"
    )
    assert env.from_string("{{ d['items'] }}").render(data) == "not the method"
    with pytest.raises(render.RenderFailed, match="has no attribute 'nope'"):
        _sms("{{ order.nope }}")
    with pytest.raises(render.RenderFailed, match="sandbox"):
        _sms("{{ store.__class__ }}")
