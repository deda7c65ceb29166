"""A worker process for the messaging fault tests: the real Worker and the real ``message.send`` handler.

The only addition is instrumentation around the devbox outbox (the channel's "provider") and the SMTP
channel: each delivery call is logged in ``test_deliveries`` and then pauses for ``--pause`` seconds *after* the provider stored
the message and *before* Doorstep records it as sent, the window where a crash is hardest to survive.
Run as ``python -m tests.messaging.send_worker URL --lease 1 --pause 0.05``.
"""

import argparse
import signal
import sys
import threading
import time
from datetime import timedelta

import httpx
from pydantic import BaseModel, SecretStr
from sqlalchemy import text

from doorstep.config import ChannelSettings, SecuritySettings, Settings
from doorstep.db import make_engine, make_session_factory, transaction
from doorstep.integrations.channels import smtp
from doorstep.integrations.channels.protocol import Outbound, Sent
from doorstep.jobs.handlers import HANDLERS, Runtime
from doorstep.jobs.worker import Worker
from doorstep.outbox import service as outbox_service

TABLES = (
    "CREATE TABLE test_deliveries (id SERIAL PRIMARY KEY, message_id TEXT NOT NULL, worker TEXT NOT NULL,"
    " at DOUBLE PRECISION NOT NULL)",
)
SECRET = "test-secret-for-sealing-store-connections-0123456789"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--lease", type=float, default=1.0)
    parser.add_argument("--pause", type=float, default=0.0)
    parser.add_argument("--batch-size", type=int, default=None)
    options = parser.parse_args()

    settings = Settings(
        database_url=options.url, security=SecuritySettings(secret_key=SecretStr(SECRET)),
        channels=ChannelSettings(devbox=True), base_url="https://track.example",
    )  # fmt: skip
    factory = make_session_factory(make_engine(settings, pool_size=options.concurrency + 4))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    owner = f"send-worker-{time.time_ns()}"
    original = outbox_service.Sink.deliver

    def deliver(self: outbox_service.Sink, message: Outbound) -> str:
        with transaction(factory) as session:
            session.execute(
                text("INSERT INTO test_deliveries (message_id, worker, at) VALUES (:m, :w, :t)"),
                {"m": message.message_id, "w": owner, "t": time.time()},
            )
        outbox_id = original(self, message)
        time.sleep(options.pause)  # stored by the "provider", not yet recorded as sent: kill me here
        return outbox_id

    outbox_service.Sink.deliver = deliver  # type: ignore[method-assign]
    smtp_send = smtp.Smtp.send

    def send_by_smtp(self: smtp.Smtp, message: Outbound, config: BaseModel, *, client: httpx.Client) -> Sent:
        with transaction(factory) as session:
            session.execute(
                text("INSERT INTO test_deliveries (message_id, worker, at) VALUES (:m, :w, :t)"),
                {"m": message.message_id, "w": owner, "t": time.time()},
            )
        sent = smtp_send(self, message, config, client=client)
        time.sleep(options.pause)  # accepted by the SMTP server, not yet recorded as sent: kill me here
        return sent

    smtp.Smtp.send = send_by_smtp  # type: ignore[method-assign]
    with httpx.Client() as client:
        worker = Worker(
            Runtime(factory, settings, client), handlers={"message.send": HANDLERS["message.send"]}, schedule=(),
            concurrency=options.concurrency, lease=timedelta(seconds=options.lease), idle=0.02, owner=owner,
            batch_size=options.batch_size,
        )  # fmt: skip
        sys.stdout.write(f"ready {worker.owner}\n")
        sys.stdout.flush()
        stats = worker.run(stop)
    sys.stdout.write(f"stopped done={stats.done} failed={stats.failed} lost={stats.lost}\n")
    sys.exit(0)


if __name__ == "__main__":
    main()
