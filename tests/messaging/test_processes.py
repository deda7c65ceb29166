"""Several worker processes on PostgreSQL sending real messages; one is SIGKILLed in the middle of a batch.

Every order placed writes its ``message.send`` job in the same transaction. The workers decide, render
and deliver into the devbox outbox (the channel's provider); ``tests/messaging/send_worker.py`` pauses
after the provider stored a message and before it is recorded as sent, where a kill hurts most.
"""

import signal
import time
from collections.abc import Iterator
from datetime import UTC

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from doorstep.config import Settings
from doorstep.core import clock
from doorstep.db import transaction
from doorstep.flows import service as flow_service
from doorstep.flows.schemas import FlowDefinition
from doorstep.integrations.channels import smtp
from doorstep.jobs import queue
from doorstep.orders import service as order_service
from doorstep.orders.commands import CreateOrder
from doorstep.shipments import service as shipment_service
from doorstep.shipments.commands import CheckpointInput, CreateShipment
from doorstep.shipments.status import Status
from doorstep.stores import service as store_service
from tests.factories.orders import order_body
from tests.factories.stores import StoreWithKey
from tests.integrations.channels.conftest import Sink, free_port
from tests.jobs.processes import WorkerProcesses
from tests.messaging.send_worker import TABLES

pytestmark = [pytest.mark.pg, pytest.mark.slow]


@pytest.fixture
def backend() -> str:
    return "pg"


@pytest.fixture
def workers(database_url: str) -> Iterator[WorkerProcesses]:
    running = WorkerProcesses("tests.messaging.send_worker", database_url)
    yield running
    running.stop()


def _ship_orders(factory: sessionmaker[Session], store_id: int, count: int) -> None:
    """``count`` orders, each with a parcel scanned in transit now: one ``shipment.shipped`` e-mail each."""
    now = clock.now().astimezone(UTC)
    off = FlowDefinition.model_validate(
        {"trigger": "order.placed", "enabled": False, "steps": [{"send": ["email"]}]}
    )
    with transaction(factory) as session:
        flow_service.put_flow(session, store_id=store_id, key="order-confirmed", definition=off)
        for n in range(count):
            body = order_body(n, placed_at=now.isoformat())
            body["customer"] = {**body["customer"], "phone": None, "timezone": "UTC"}
            order = order_service.create_order(
                session, store_id=store_id, cmd=CreateOrder.model_validate(body)
            )
            scan = CheckpointInput(occurred_at=now, status=Status.in_transit, message="Picked up")
            shipment_service.create_shipment(
                session, store_id=store_id,
                cmd=CreateShipment(order_id=order.order.public_id, carrier="ups", tracking_number=f"1Z{n:016d}",
                                   checkpoints=(scan,)),
            )  # fmt: skip
        queue.cancel(session, prefix="pub:")  # publication jobs are notify-channels' (tested there)


def _scalar(engine: Engine, sql: str, **params: object) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(sql), params).scalar_one() or 0)


def _wait_until_sent(engine: Engine, count: int, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    done = "SELECT count(*) FROM jobs WHERE kind = 'message.send' AND status = 'done'"
    while _scalar(engine, done) < count:
        assert time.monotonic() < deadline, "messages were not all sent"
        time.sleep(0.1)


@pytest.fixture
def deliveries(engine: Engine) -> None:
    with engine.begin() as connection:
        for ddl in TABLES:
            connection.execute(text(ddl))


def test_three_workers_send_every_message_once(
    engine: Engine, factory: sessionmaker[Session], settings: Settings, store: StoreWithKey, deliveries: None,
    workers: WorkerProcesses,
) -> None:  # fmt: skip
    total = 90
    # Batches of 8 (4 threads: 32 jobs a claim), so no single worker can take the whole burst at once.
    workers.start(3, lease=5.0, pause=0.0, batch_size=8)
    _ship_orders(factory, store.id, total)
    _wait_until_sent(engine, total)
    assert _scalar(engine, "SELECT count(*) FROM messages WHERE status = 'sent'") == total
    assert _scalar(engine, "SELECT count(*) FROM outbox_messages") == total
    assert _scalar(engine, "SELECT count(*) FROM test_deliveries") == total
    assert _scalar(engine, "SELECT count(DISTINCT worker) FROM test_deliveries") == 3


def test_a_worker_killed_mid_batch_loses_no_message_and_sends_none_twice(
    engine: Engine, factory: sessionmaker[Session], settings: Settings, store: StoreWithKey, deliveries: None,
    workers: WorkerProcesses,
) -> None:  # fmt: skip
    total = 120
    workers.start(3, lease=1.0, pause=0.05, batch_size=8)
    victim, victim_owner = workers.processes[0], workers.owners[0]
    _ship_orders(factory, store.id, total)
    # Kill it once it has sent some and holds a message the provider stored but Doorstep has not recorded.
    in_window = (
        "SELECT count(*) FROM test_deliveries d JOIN messages m ON m.public_id = d.message_id"
        " WHERE d.worker = :owner AND m.status = 'sending'"
    )
    deadline = time.monotonic() + 60
    while (
        _scalar(engine, "SELECT count(*) FROM outbox_messages") < 30
        or _scalar(engine, in_window, owner=victim_owner) == 0
    ):
        assert time.monotonic() < deadline, "the victim never reached the window"
        time.sleep(0.002)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    _wait_until_sent(engine, total)

    sent = _scalar(engine, "SELECT count(*) FROM messages WHERE status = 'sent'")
    outbox = _scalar(engine, "SELECT count(*) FROM outbox_messages")
    distinct = _scalar(engine, "SELECT count(DISTINCT message_id) FROM outbox_messages")
    calls = _scalar(engine, "SELECT count(*) FROM test_deliveries")
    resent = _scalar(engine, "SELECT count(*) FROM messages WHERE attempts > 1")
    lost = total - distinct
    print(  # noqa: T201 (the figures the test proves, shown with -s)
        f"\nsend kill test: {total} messages, worker killed mid-batch; sent {sent}, in the outbox {outbox} "
        f"({distinct} distinct), delivery calls {calls} ({calls - total} repeated after the kill, stored once; "
        f"{resent} decided before the kill and finished after it), "
        f"duplicates {outbox - distinct}, lost {lost}"
    )
    assert (sent, outbox, distinct, lost) == (total, total, total, 0)
    assert resent >= 1  # the kill landed between the provider storing a message and Doorstep recording it
    # Calls beyond one per message are the re-sends of messages the provider already had: stored once.
    assert 1 <= calls - total <= resent
    assert _scalar(engine, "SELECT count(*) FROM messages WHERE status <> 'sent'") == 0


def test_a_worker_killed_mid_batch_delivers_every_email_to_a_real_smtp_server(
    engine: Engine, factory: sessionmaker[Session], settings: Settings, store: StoreWithKey, deliveries: None,
    workers: WorkerProcesses,
) -> None:  # fmt: skip
    """The same kill, with SMTP as the channel: a message the server accepted just before the kill is sent
    again after it, with the same Message-ID (SMTP has no idempotency key; receivers dedupe on it)."""
    received = Sink()
    port = free_port()
    controller = Controller(received, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        config = smtp.Config(host="127.0.0.1", port=port, security="none", from_email="hello@acme.example")
        with transaction(factory) as session:
            store_service.set_connection(
                session, store_id=store.id, provider="smtp", config=config.model_dump(mode="json"),
                secret=settings.security.secret_key.get_secret_value(),
            )  # fmt: skip
        total = 120
        workers.start(3, lease=1.0, pause=0.05, batch_size=8)
        victim, victim_owner = workers.processes[0], workers.owners[0]
        _ship_orders(factory, store.id, total)
        in_window = (
            "SELECT count(*) FROM test_deliveries d JOIN messages m ON m.public_id = d.message_id"
            " WHERE d.worker = :owner AND m.status = 'sending'"
        )
        deadline = time.monotonic() + 60
        while len(received.received) < 30 or _scalar(engine, in_window, owner=victim_owner) == 0:
            assert time.monotonic() < deadline, "the victim never reached the window"
            time.sleep(0.002)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        _wait_until_sent(engine, total)
    finally:
        controller.stop()

    ids = [str(r.message["Message-ID"]) for r in received.received]
    distinct = len(set(ids))
    repeated = len(ids) - distinct
    sent = _scalar(engine, "SELECT count(*) FROM messages WHERE status = 'sent' AND channel = 'smtp'")
    window = _scalar(engine, "SELECT count(*) FROM messages WHERE attempts > 1")
    print(  # noqa: T201 (the figures the test proves, shown with -s)
        f"\nSMTP kill test: {total} e-mails, worker killed mid-batch; sent {sent}, SMTP server received "
        f"{len(ids)} ({distinct} distinct Message-IDs, {repeated} repeated after the kill), lost {total - distinct}"
    )
    assert (sent, distinct) == (total, total)
    # Only messages the victim held when it died can repeat, and each repeat has the same Message-ID.
    assert repeated <= window
