"""A batch's reads (``doorstep.messaging.world.read``): the same statements for 3 messages as for 70, and
the collections a decision reads (line items, consents) filled in their relationships' order."""

from datetime import UTC, datetime

from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session, sessionmaker

from doorstep.config import Settings
from doorstep.db import transaction
from doorstep.flows.models import MilestoneEvent
from doorstep.messaging import world
from doorstep.orders import service as order_service
from doorstep.orders.commands import CreateOrder
from doorstep.stores import service as store_service
from doorstep.stores.commands import CreateStore


def _order(n: int) -> CreateOrder:
    return CreateOrder.model_validate(
        {
            "external_id": f"w-{n}", "number": f"#{500 + n}", "placed_at": "2026-12-01T10:00:00Z", "currency": "EUR",
            "customer": {"email": f"w{n}@example.com", "first_name": "Ana", "consents": [
                {"channel": "sms", "granted": n % 2 == 0, "source": "checkout"},
                {"channel": "email", "granted": True, "source": "checkout"},
            ]},
            "line_items": [
                {"external_id": f"w-{n}-b", "title": f"Boots {n}", "quantity": 1, "unit_price_minor": 9900},
                {"external_id": f"w-{n}-a", "title": f"Anorak {n}", "quantity": 1, "unit_price_minor": 4900},
            ],
        }
    )  # fmt: skip


def test_a_batch_reads_the_same_statements_for_3_messages_as_for_70(
    engine: Engine, factory: sessionmaker[Session], settings: Settings
) -> None:
    with transaction(factory) as session:
        store_id = store_service.create_store(session, cmd=CreateStore(slug="reads", name="Reads")).id
        for n in range(70):
            order_service.create_order(session, store_id=store_id, cmd=_order(n))
    sent: list[str] = []

    def capture(conn: object, cursor: object, statement: str, *rest: object) -> None:
        sent.append(statement)

    texts: dict[int, list[str]] = {}
    with factory() as session:
        placed = list(
            session.scalars(
                select(MilestoneEvent)
                .where(MilestoneEvent.store_id == store_id, MilestoneEvent.name == "order.placed")
                .order_by(MilestoneEvent.id)
            )
        )
        assert len(placed) == 70
        for size in (3, 70):
            session.expunge_all()  # nothing already loaded: every read happens again
            batch = [session.merge(event, load=False) for event in placed[:size]]
            common = world.shared(session, store_id, settings)
            sent.clear()
            event.listen(engine, "before_cursor_execute", capture)
            try:
                worlds = world.read(session, common, batch, datetime.now(UTC))
            finally:
                event.remove(engine, "before_cursor_execute", capture)
            texts[size] = list(sent)
            for milestone in batch:
                read = worlds[milestone.id]
                assert read.order is not None
                assert read.customer is not None
                n = int(read.order.number[1:]) - 500
                # the line items in the order they were given; consents by channel, as each relationship orders
                assert [item.title for item in read.order.line_items] == [f"Boots {n}", f"Anorak {n}"]
                assert [(c.channel, c.is_granted) for c in read.customer.consents] == [
                    ("email", True), ("sms", n % 2 == 0),
                ]  # fmt: skip
    # no statement per message, and (on PostgreSQL, where id lists are one array) no text per batch size
    assert len(texts[3]) == len(texts[70])
    if engine.dialect.name == "postgresql":
        assert texts[3] == texts[70]
