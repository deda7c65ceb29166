"""The returns service on SQLite and PostgreSQL: eligibility, quotes, creation and every bad input."""

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from doorstep.core.errors import Conflict, Invalid, NotFound
from doorstep.db import transaction
from doorstep.flows import service as flow_service
from doorstep.returns import service as return_service
from doorstep.returns.commands import CreateReturn, ProposeReturn
from doorstep.returns.models import ReturnRequest
from doorstep.returns.policy import DEFAULT_POLICY, Ineligible
from tests.factories.returns import DELIVERED, PLACED, make_order
from tests.factories.stores import StoreWithKey

NOW = DELIVERED + timedelta(days=2)
# The default order: 2 x 68.00 tee + 1 x 28.00 final-sale cap, 6.95 shipping, 12.00 tax (total 176.95).
TEE_VALUE = 6800 + 1200 * 6800 // 16400  # price plus its share of tax: 7297


def propose(lines: list[str], **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "items": [{"line_item_id": lines[0], "quantity": 1, "reason": "too_small"}],
        "resolution": "refund",
        "method": "label",
    }
    body.update(overrides)
    return body


def create(session: Session, store_id: int, order_id: str, body: dict[str, Any]) -> return_service.Applied:
    return return_service.create_return(
        session, store_id=store_id, order_id=order_id, cmd=CreateReturn.model_validate(body), now=NOW
    )


def count_returns(factory: sessionmaker[Session], store_id: int) -> int:
    with transaction(factory) as session:
        return int(
            session.scalars(
                select(func.count(ReturnRequest.id)).where(ReturnRequest.store_id == store_id)
            ).one()
        )


# --- eligibility ---------------------------------------------------------------------------------------


def test_eligibility_names_a_reason_for_each_ineligible_item(
    factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    # given a delivered order with a normal item and a final-sale item
    order = make_order(factory, store.id)

    # when its eligibility is read two days after delivery
    with transaction(factory) as session:
        result = return_service.get_eligibility(session, store_id=store.id, order_id=order.order_id, now=NOW)

    # then the tee can go back (both units) and the cap cannot, with a code and plain words
    tee, cap = result.items
    assert (tee.eligible, tee.returnable_quantity, tee.reason) == (True, 2, None)
    assert tee.window_ends_at == DELIVERED + timedelta(days=30)
    assert (cap.eligible, cap.reason) == (False, Ineligible.final_sale)
    assert cap.message == "This item was a final sale, so it cannot be returned."


def test_window_counts_from_delivery_and_closes(factory: sessionmaker[Session], store: StoreWithKey) -> None:
    order = make_order(factory, store.id)
    with transaction(factory) as session:
        late = DELIVERED + timedelta(days=31)
        tee = return_service.get_eligibility(
            session, store_id=store.id, order_id=order.order_id, now=late
        ).items[0]
    assert (tee.eligible, tee.reason) == (False, Ineligible.window_closed)
    assert tee.message == "The return window for this item closed on December 23, 2026."


def test_undelivered_order_counts_the_window_from_the_order(
    factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    order = make_order(factory, store.id, delivered_at=None)
    with transaction(factory) as session:
        tee = return_service.get_eligibility(
            session, store_id=store.id, order_id=order.order_id, now=NOW
        ).items[0]
    assert tee.eligible
    assert tee.window_ends_at == PLACED + timedelta(days=30)


def test_overrides_by_tag_and_collection(factory: sessionmaker[Session], store: StoreWithKey) -> None:
    # given the default policy: swimwear is never returnable, shoes (collection) are exchange-only
    lines = [
        {"external_id": "a", "title": "Swim shorts", "quantity": 1, "unit_price_minor": 3000, "product_tags": ["Swimwear"]},
        {"external_id": "b", "title": "Runner", "quantity": 1, "unit_price_minor": 9000, "product_tags": ["collection:shoes"]},
        {"external_id": "c", "title": "Gift scarf", "quantity": 1, "unit_price_minor": 4000, "product_tags": ["gift"]},
    ]  # fmt: skip
    order = make_order(factory, store.id, line_items=lines)
    with transaction(factory) as session:
        swim, shoe, scarf = return_service.get_eligibility(
            session, store_id=store.id, order_id=order.order_id, now=DELIVERED + timedelta(days=45)
        ).items
    assert (swim.eligible, swim.reason, swim.overrides) == (
        False,
        Ineligible.not_returnable,
        ("Swimwear and underwear",),
    )
    # 45 days after delivery only the 60-day gift window is still open
    assert (shoe.eligible, shoe.reason) == (False, Ineligible.window_closed)
    assert scarf.eligible
    with transaction(factory) as session:
        shoe = return_service.get_eligibility(
            session, store_id=store.id, order_id=order.order_id, now=NOW
        ).items[1]
    assert shoe.is_exchange_only
    assert [r.value for r in shoe.resolutions] == ["exchange"]


def test_cancelled_order_has_nothing_to_return(factory: sessionmaker[Session], store: StoreWithKey) -> None:
    from doorstep.orders import service as order_service
    from doorstep.orders.commands import CancelOrder

    order = make_order(factory, store.id)
    with transaction(factory) as session:
        order_service.cancel_order(session, store_id=store.id, order_id=order.order_id, cmd=CancelOrder())
    with transaction(factory) as session:
        items = return_service.get_eligibility(
            session, store_id=store.id, order_id=order.order_id, now=NOW
        ).items
    assert {i.reason for i in items} == {Ineligible.order_cancelled}


# --- quotes -------------------------------------------------------------------------------------------


def test_quote_for_a_refund_deducts_the_label_fee(
    factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    order = make_order(factory, store.id)
    with transaction(factory) as session:
        quote = return_service.quote_return(
            session, store_id=store.id, order_id=order.order_id,
            cmd=ProposeReturn.model_validate(propose(order.lines)), now=NOW,
        )  # fmt: skip
    assert quote.items_minor == TEE_VALUE == 7297
    assert (quote.fee_minor, quote.fee_reason) == (500, "method:label")
    assert (quote.refund_minor, quote.credit_minor, quote.total_minor) == (6797, 0, 6797)


def test_quote_for_store_credit_adds_the_bonus(factory: sessionmaker[Session], store: StoreWithKey) -> None:
    order = make_order(factory, store.id)
    with transaction(factory) as session:
        quote = return_service.quote_return(
            session, store_id=store.id, order_id=order.order_id,
            cmd=ProposeReturn.model_validate(propose(order.lines, resolution="store_credit", method="qr_dropoff")),
            now=NOW,
        )  # fmt: skip
    # 10 % bonus of the items' value, fee 3.00 for a drop-off
    assert (quote.bonus_minor, quote.fee_minor) == (729, 300)
    assert quote.credit_minor == 7297 - 300 + 729
    assert quote.refund_minor == 0


def test_damaged_items_refund_their_shipping_share_for_free(
    factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    order = make_order(factory, store.id)
    body = propose(order.lines)
    body["items"][0] |= {"reason": "damaged", "photos": ["pho_1"]}
    with transaction(factory) as session:
        quote = return_service.quote_return(
            session,
            store_id=store.id,
            order_id=order.order_id,
            cmd=ProposeReturn.model_validate(body),
            now=NOW,
        )
    assert quote.lines[0].shipping_minor == 695 * 6800 // 16400
    assert (quote.fee_minor, quote.fee_waived_reason) == (0, None)  # damaged has no fee in the default policy


def test_loyalty_tier_waives_the_fee(factory: sessionmaker[Session], store: StoreWithKey) -> None:
    order = make_order(factory, store.id, tags=["tier:gold"])
    with transaction(factory) as session:
        quote = return_service.quote_return(
            session, store_id=store.id, order_id=order.order_id,
            cmd=ProposeReturn.model_validate(propose(order.lines)), now=NOW,
        )  # fmt: skip
    assert (quote.fee_minor, quote.fee_waived_reason, quote.refund_minor) == (0, "tier:gold", 7297)


def test_keep_it_below_the_threshold_needs_nothing_back(
    factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    lines = [{"external_id": "s", "title": "Socks", "quantity": 3, "unit_price_minor": 800}]
    order = make_order(factory, store.id, line_items=lines, tax_minor=0)
    with transaction(factory) as session:
        eligibility = return_service.get_eligibility(
            session, store_id=store.id, order_id=order.order_id, now=NOW
        )
        applied = create(
            session, store.id, order.order_id, propose(order.lines, resolution="keep", method="none")
        )
    assert eligibility.keep_it_line_ids == (order.lines[0],)
    request = applied.return_request
    assert (request.status, request.outcome, request.method, request.refund_minor) == (
        "resolved",
        "kept",
        "none",
        800,
    )
    assert applied.milestones == ["return.requested", "return.approved", "return.resolved"]


# --- creating ------------------------------------------------------------------------------------------


def test_create_emits_requested_and_auto_approves(
    factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    order = make_order(factory, store.id)
    with transaction(factory) as session:
        applied = create(session, store.id, order.order_id, propose(order.lines, idempotency_key="form-1"))
        request = applied.return_request
        token, public_id = request.token, request.public_id
    assert applied.created
    assert applied.milestones == ["return.requested", "return.approved"]
    assert (request.status, request.refund_minor, request.fee_minor) == ("approved", 6797, 500)
    assert request.rma.startswith("R")
    assert len(request.rma) == 10
    assert len(token) >= 32
    with transaction(factory) as session:
        found = return_service.get_by_token(session, token=token)
        assert found is not None
        assert found.public_id == public_id
        assert return_service.get_by_token(session, token="x" * 32) is None
        names = [
            m.name for m in flow_service.list_for_subject(session, store_id=store.id, subject_id=public_id)
        ]
    assert names == ["return.requested", "return.approved"]


def test_manual_approval_for_damaged(factory: sessionmaker[Session], store: StoreWithKey) -> None:
    order = make_order(factory, store.id)
    body = propose(order.lines)
    body["items"][0] |= {"reason": "damaged", "photos": ["pho_1"]}
    with transaction(factory) as session:
        applied = create(session, store.id, order.order_id, body)
    assert applied.return_request.status == "requested"


def test_double_submission_creates_one_return(factory: sessionmaker[Session], store: StoreWithKey) -> None:
    order = make_order(factory, store.id)
    with transaction(factory) as session:
        first = create(session, store.id, order.order_id, propose(order.lines, idempotency_key="nonce-1"))
    with transaction(factory) as session:
        again = create(session, store.id, order.order_id, propose(order.lines, idempotency_key="nonce-1"))
    with transaction(factory) as session:
        # without a key, the same content while the first is open finds it too
        keyless = create(session, store.id, order.order_id, propose(order.lines))
    assert not again.created
    assert again.return_request.public_id == first.return_request.public_id
    assert not keyless.created
    assert keyless.return_request.public_id == first.return_request.public_id
    assert count_returns(factory, store.id) == 1


def test_same_key_with_other_content_is_refused(factory: sessionmaker[Session], store: StoreWithKey) -> None:
    order = make_order(factory, store.id)
    with transaction(factory) as session:
        create(session, store.id, order.order_id, propose(order.lines, idempotency_key="nonce-1"))
    with (
        pytest.raises(Conflict, match="already used for a different return"),
        transaction(factory) as session,
    ):
        create(
            session,
            store.id,
            order.order_id,
            propose(order.lines, idempotency_key="nonce-1", resolution="store_credit"),
        )
    assert count_returns(factory, store.id) == 1


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        pytest.param({"quantity": 3}, "items.0.quantity", "more than the 2 unit(s)", id="beyond-ordered"),
        pytest.param(
            {"line_item_id": "li_nope"}, "items.0.line_item_id", "is not an item of order", id="foreign-line"
        ),
        pytest.param({"reason": "damaged"}, "items.0.photos", "a photo is required", id="photo-missing"),
    ],
)
def test_bad_items_are_refused_and_change_nothing(
    factory: sessionmaker[Session], store: StoreWithKey, change: dict[str, Any], field: str, words: str
) -> None:
    order = make_order(factory, store.id)
    body = propose(order.lines)
    body["items"][0] |= change
    with pytest.raises(Invalid) as caught, transaction(factory) as session:
        create(session, store.id, order.order_id, body)
    assert caught.value.problems[0].field == field
    assert words in caught.value.problems[0].message
    assert count_returns(factory, store.id) == 0


def test_final_sale_item_is_refused(factory: sessionmaker[Session], store: StoreWithKey) -> None:
    order = make_order(factory, store.id)
    body = propose(order.lines)
    body["items"][0]["line_item_id"] = order.lines[1]
    with pytest.raises(Invalid, match="final sale"), transaction(factory) as session:
        create(session, store.id, order.order_id, body)


def test_outside_the_window_is_refused(factory: sessionmaker[Session], store: StoreWithKey) -> None:
    order = make_order(factory, store.id)
    cmd = CreateReturn.model_validate(propose(order.lines))
    with pytest.raises(Invalid, match="window_closed"), transaction(factory) as session:
        return_service.create_return(
            session, store_id=store.id, order_id=order.order_id, cmd=cmd, now=DELIVERED + timedelta(days=40)
        )


def test_units_already_returned_count(factory: sessionmaker[Session], store: StoreWithKey) -> None:
    order = make_order(factory, store.id)
    with transaction(factory) as session:
        create(session, store.id, order.order_id, propose(order.lines, idempotency_key="a"))
    body = propose(order.lines, idempotency_key="b")
    body["items"][0]["quantity"] = 2
    with pytest.raises(Invalid) as caught, transaction(factory) as session:
        create(session, store.id, order.order_id, body)
    assert "(2 ordered, 1 already in a return)" in caught.value.problems[0].message
    with transaction(factory) as session:  # the last unit can still go back
        assert create(session, store.id, order.order_id, propose(order.lines, idempotency_key="c")).created


def test_tampered_total_is_refused(factory: sessionmaker[Session], store: StoreWithKey) -> None:
    order = make_order(factory, store.id)
    with pytest.raises(Conflict, match="the total changed"), transaction(factory) as session:
        create(session, store.id, order.order_id, propose(order.lines, expected_total_minor=999_999))
    with transaction(factory) as session:  # the honest total goes through
        assert create(
            session, store.id, order.order_id, propose(order.lines, expected_total_minor=6797)
        ).created
    assert count_returns(factory, store.id) == 1


def test_client_prices_are_not_accepted() -> None:
    with pytest.raises(ValidationError, match=r"Extra inputs"):
        CreateReturn.model_validate(
            {
                "items": [{"line_item_id": "li_1", "quantity": 1, "reason": "other", "unit_price_minor": 1}],
                "resolution": "refund",
            }
        )
    with pytest.raises(ValidationError):
        CreateReturn.model_validate(
            {
                "items": [{"line_item_id": "li_1", "quantity": 1, "reason": "other"}],
                "resolution": "refund",
                "refund_minor": 10**6,
            }
        )


def test_another_stores_order_is_not_found(
    factory: sessionmaker[Session], store: StoreWithKey, other_store: StoreWithKey
) -> None:
    order = make_order(factory, store.id)
    with pytest.raises(NotFound), transaction(factory) as session:
        create(session, other_store.id, order.order_id, propose(order.lines))
    with pytest.raises(NotFound), transaction(factory) as session:
        return_service.get_eligibility(session, store_id=other_store.id, order_id=order.order_id, now=NOW)
    assert count_returns(factory, other_store.id) == count_returns(factory, store.id) == 0


def test_a_line_of_another_order_is_refused(factory: sessionmaker[Session], store: StoreWithKey) -> None:
    mine, theirs = make_order(factory, store.id, 1), make_order(factory, store.id, 2)
    with pytest.raises(Invalid, match="is not an item of order"), transaction(factory) as session:
        create(session, store.id, mine.order_id, propose(theirs.lines))


def test_policy_put_is_validated(factory: sessionmaker[Session], store: StoreWithKey) -> None:
    document = DEFAULT_POLICY.model_dump(mode="json") | {"window_days": -1, "resolutions": ["keep"]}
    with pytest.raises(Invalid) as caught, transaction(factory) as session:
        return_service.set_policy(session, store_id=store.id, document=document)
    assert {p.field for p in caught.value.problems} >= {"window_days"}
    with transaction(factory) as session:
        assert return_service.get_policy(session, store_id=store.id) == DEFAULT_POLICY
        return_service.set_policy(
            session, store_id=store.id, document=DEFAULT_POLICY.model_dump(mode="json") | {"window_days": 14}
        )
    with transaction(factory) as session:
        assert return_service.get_policy(session, store_id=store.id).window_days == 14


def test_simultaneous_double_submission_creates_one_return(
    factory: sessionmaker[Session], store: StoreWithKey
) -> None:
    """Two requests with the same form nonce at the same moment: the order row lock serialises them."""
    import threading

    order = make_order(factory, store.id)
    barrier = threading.Barrier(2)
    outcomes: list[tuple[bool, str]] = []

    def submit() -> None:
        barrier.wait()
        with transaction(factory) as session:
            applied = create(
                session, store.id, order.order_id, propose(order.lines, idempotency_key="same-nonce")
            )
            outcomes.append((applied.created, applied.return_request.public_id))

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(created for created, _ in outcomes) == [False, True]
    assert len({public_id for _, public_id in outcomes}) == 1
    assert count_returns(factory, store.id) == 1
