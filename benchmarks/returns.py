"""Returns opened per second through the service, next to orders created through the orders service.

Returns: for each of `N` delivered orders, one transaction runs what the portal's confirm button does:
eligibility (the order, its parcels, earlier returns), the server-side quote, the idempotency checks, the
insert of the return and its item, `return.requested` + `return.approved` milestones. Baseline: `N` orders
created through `orders.service.create_order` (customer upsert, order and two lines, `order.placed`), one
transaction each: a domain write of similar size on the same database.

    python -m benchmarks.returns [--orders 300] [--database-url URL]
"""

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks._figure import Figure
from doorstep import migrate
from doorstep.config import Settings
from doorstep.db import make_engine, make_session_factory, transaction
from doorstep.orders import service as order_service
from doorstep.orders.commands import CreateOrder
from doorstep.returns import service as return_service
from doorstep.returns.commands import CreateReturn
from doorstep.stores import service as store_service
from doorstep.stores.commands import CreateStore

PLACED = datetime(2026, 11, 20, 15, tzinfo=UTC)


def _order(n: int, prefix: str) -> CreateOrder:
    return CreateOrder.model_validate({
        "external_id": f"{prefix}-{n}", "number": f"#{prefix}{n}", "placed_at": PLACED.isoformat(), "currency": "USD",
        "customer": {"email": f"{prefix}{n}@example.com"},
        "line_items": [
            {"external_id": f"{prefix}-{n}-1", "title": "Merino Tee", "quantity": 2, "unit_price_minor": 6800},
            {"external_id": f"{prefix}-{n}-2", "title": "Cap", "quantity": 1, "unit_price_minor": 2800},
        ],
        "shipping_minor": 695, "tax_minor": 1200,
    })  # fmt: skip


def run(orders: int, database_url: str | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=database_url or f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
        engine = make_engine(settings)
        migrate.upgrade(engine)
        factory = make_session_factory(engine)
        stamp = str(int(time.time()))
        with transaction(factory) as session:
            store_id = store_service.create_store(
                session, cmd=CreateStore(slug=f"bench-{stamp}", name="Bench")
            ).id

        started = time.perf_counter()
        targets: list[tuple[str, str]] = []
        for n in range(orders):
            with transaction(factory) as session:
                order = order_service.create_order(
                    session, store_id=store_id, cmd=_order(n, f"o{stamp}")
                ).order
                targets.append((order.public_id, order.line_items[0].public_id))
        order_seconds = time.perf_counter() - started

        now = PLACED + timedelta(days=5)
        started = time.perf_counter()
        for n, (order_id, line_id) in enumerate(targets):
            cmd = CreateReturn.model_validate({
                "items": [{"line_item_id": line_id, "quantity": 1, "reason": "too_big"}],
                "resolution": "refund", "method": "label", "idempotency_key": f"bench-{stamp}-{n}",
            })  # fmt: skip
            with transaction(factory) as session:
                return_service.create_return(session, store_id=store_id, order_id=order_id, cmd=cmd, now=now)
        return_seconds = time.perf_counter() - started
        engine.dispose()
    return {"returns": orders / return_seconds, "orders": orders / order_seconds}


def run_figure() -> Figure:
    """The figure for `python -m benchmarks`: 300 returns on SQLite."""
    result = run(300, None)
    return Figure(
        name="returns",
        value=result["returns"],
        unit="returns/s",
        baseline=result["orders"],
        baseline_name="orders created",
        note="eligibility + quote + create + auto-approve, one transaction each",
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--database-url", default=None)
    options = parser.parse_args()
    figures = run(options.orders, options.database_url)
    backend = "sqlite" if not options.database_url else options.database_url.split(":", 1)[0]
    print(
        f"returns ({backend}): {figures['returns']:,.0f} returns/s · orders created {figures['orders']:,.0f} orders/s · "
        f"ratio {figures['returns'] / figures['orders']:.2f}"
    )


if __name__ == "__main__":
    main()
