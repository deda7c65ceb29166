"""The return and claim templates choose their words by what actually happened (pure rendering, no database)."""

import pytest

from doorstep.integrations.channels.protocol import Kind
from doorstep.messaging import render
from doorstep.messaging.context import sample_context


def _text(milestone: str, changes: dict[str, object] | None = None, *, locale: str = "en") -> str:
    changes = changes or {}
    ctx = sample_context(locale=locale, milestone=milestone)
    if ctx.return_request is not None:
        ctx = ctx.model_copy(update={"return_request": ctx.return_request.model_copy(update=changes)})
    if ctx.claim is not None:
        ctx = ctx.model_copy(update={"claim": ctx.claim.model_copy(update=changes)})
    source = render.default_source(milestone, Kind.email, locale)
    return render.render_source(source, kind=Kind.email, locale=locale, context=ctx).text


@pytest.mark.parametrize(
    ("method", "words"),
    [
        ("label", "We're preparing your prepaid return label"),
        ("qr_dropoff", "Show the QR code on your return page at a drop-off point"),
        ("in_store", "Bring the items to one of our stores and show your return code R-4F7K2Q."),
        ("none", "You don't need to send anything back."),
    ],
)
def test_approved_says_what_to_do_next(method: str, words: str) -> None:
    assert words in _text("return.approved", {"method": method})


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"outcome": "refunded", "refund_amount": "$24.00", "credit_amount": None, "credit_code": None},
         "We've refunded $24.00 for return R-4F7K2Q (order #1042)."),
        ({}, "We've added $24.00 in store credit for return R-4F7K2Q (order #1042). Your code: CR-7QK2-M9XD-4TZP"),
        ({"outcome": "exchanged", "exchange_items": ["Trail Runner / 43"], "credit_amount": None},
         "Your exchange for return R-4F7K2Q (order #1042) is being prepared: Trail Runner / 43."),
        ({"outcome": "kept", "refund_amount": "$24.00"},
         "Please keep the items from order #1042; no need to send them back. We've refunded $24.00."),
    ],
)  # fmt: skip
def test_resolved_wording_follows_the_outcome(changes: dict[str, object], words: str) -> None:
    assert words in _text("return.resolved", changes)


def test_the_credit_amount_is_formatted_for_the_shoppers_locale() -> None:
    assert "Wir haben dir 24,00\xa0$ Guthaben" in _text("return.resolved", locale="de")


def test_rejected_gives_the_reason_and_the_stores_words() -> None:
    text = _text("return.rejected")
    assert "because it falls outside our return policy. The return window closed on November 1." in text
    assert "because" not in _text("return.rejected", {"rejection_reason": "other"})


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"resolution": "reship"}, "We're sending replacement items for order #1042"),
        ({"resolution": "refund"}, "We're refunding $89.00 for order #1042."),
        ({"resolution": None, "status": "rejected", "decided_reason": "The carrier confirmed delivery."},
         "We couldn't approve your claim for order #1042. The carrier confirmed delivery."),
    ],
)  # fmt: skip
def test_claim_resolved_wording_follows_the_decision(changes: dict[str, object], words: str) -> None:
    assert words in _text("claim.resolved", changes)
