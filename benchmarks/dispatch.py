"""Notifications delivered per second by the worker to a local SMTP sink, next to procrastinate and smtplib.

Doorstep: `N` orders are placed (one ``order.placed`` e-mail each, due now, written with the orders as
``message.send`` jobs), then `Worker.run(once=True)` claims them and, for each one, decides with fresh
state (consent, preferences, caps…), renders the MJML e-mail to HTML + text, sends it over SMTP to an
aiosmtpd sink in another process and records it ``sent``: the whole send path, measured from the first
claim to the last ``sent``.

Both queues are measured warm, as a worker in service is: before the timed run each one runs
:data:`WARM_UP` jobs of the same kind in the same process (for Doorstep that compiles the templates and
the SQL statements once; for procrastinate it opens its pool and prepares its queries). Both then run with
the garbage-collector settings ``doorstep worker`` starts with (:func:`doorstep.core.heap.settle`), set
once per process, so neither pays for collections the other is spared.

Baselines measured in the same run:

- procrastinate (a PostgreSQL job queue), on the same database, deferring and running the same number of
  trivial jobs (a function that returns) with the same concurrency: what a queue alone costs;
- a raw ``smtplib`` loop sending `N` pre-built messages of the same size on one connection to the same
  sink: the ceiling the SMTP sink allows.

PostgreSQL only (procrastinate needs it): a scratch database is created on DOORSTEP_BENCH_PG_URL
(default the local server) and dropped afterwards.

``--breakdown`` also prints the worker's CPU per message by stage (thread CPU time: claim, decide, render,
send, record, complete) and per process (worker, sink, PostgreSQL).

``--processes P`` runs both queues in P processes (``doorstep worker --processes P``; P procrastinate
workers), each with the same concurrency, started and warmed before the clock starts. One process is the
like-for-like default: each queue's worker is one process, and Python runs one thread at a time in it.

    python -m benchmarks.dispatch [--messages 300] [--concurrency 8] [--processes 1] [--breakdown]
"""

import argparse
import asyncio
import multiprocessing
import os
import smtplib
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import httpx
import psycopg
from pydantic import SecretStr
from sqlalchemy import make_url, select
from sqlalchemy.orm import Session, sessionmaker

from benchmarks import _cpu
from benchmarks._figure import Figure
from doorstep import migrate
from doorstep.config import ChannelSettings, SecuritySettings, Settings
from doorstep.core import heap
from doorstep.db import make_engine, make_session_factory, transaction
from doorstep.integrations.channels import smtp
from doorstep.integrations.channels.protocol import Kind
from doorstep.jobs import queue
from doorstep.jobs.handlers import HANDLERS, Runtime
from doorstep.jobs.worker import Worker
from doorstep.messaging import render
from doorstep.messaging.context import sample_context
from doorstep.messaging.models import Message
from doorstep.orders import service as order_service
from doorstep.orders.commands import CreateOrder
from doorstep.stores import service as store_service
from doorstep.stores.commands import CreateStore

PG_URL = os.environ.get("DOORSTEP_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
SECRET = "benchmark-secret-for-sealing-store-connections-0123"
WARM_UP = 32  # jobs each queue runs before the timed run (not counted)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def _smtp_sink() -> Iterator[tuple[int, int]]:
    """aiosmtpd's discarding Sink handler in its own process, so it does not share our GIL."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", "-c", "aiosmtpd.handlers.Sink"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield port, process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def _scratch_database() -> Iterator[str]:
    url = make_url(PG_URL)
    name = f"doorstep_bench_dispatch_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(
        host=url.host, port=url.port or 5432, user=url.username, password=url.password,
        dbname=url.database or "postgres", autocommit=True,
    )  # fmt: skip
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def _order(n: int, placed: str) -> CreateOrder:
    return CreateOrder.model_validate(
        {
            "external_id": f"bench-{n}", "number": f"#{10000 + n}", "placed_at": placed, "currency": "USD",
            "customer": {"email": f"shopper{n}@example.com", "first_name": "Ana", "timezone": "UTC", "locale": "en",
                         "consents": [{"channel": "email", "granted": True, "source": "checkout"}]},
            "line_items": [{"external_id": f"li-{n}", "title": "Merino Tee", "quantity": 2, "unit_price_minor": 6800}],
        }
    )  # fmt: skip


def _place(factory: sessionmaker[Session], store_id: int, numbers: range, placed: str) -> None:
    with transaction(factory) as session:
        for n in numbers:
            order_service.create_order(session, store_id=store_id, cmd=_order(n, placed))
        queue.cancel(session, prefix="pub:")  # milestone publication is another figure's business


def _bench_store(factory: sessionmaker[Session], port: int) -> int:
    """The store the benchmark's orders belong to, sending through the sink on ``port``."""
    with transaction(factory) as session:
        store = store_service.create_store(session, cmd=CreateStore(slug="bench", name="Bench Outfitters"))
        config = smtp.Config(host="127.0.0.1", port=port, security="none", from_email="hello@bench.example")
        store_service.set_connection(
            session, store_id=store.id, provider="smtp", config=config.model_dump(mode="json"), secret=SECRET
        )
        return store.id


def _stages() -> dict[str, tuple[Any, str]]:
    """Where the worker's CPU goes, stage by stage (``--breakdown``): the functions a send passes through."""
    from doorstep.messaging import dispatch as message_dispatch
    from doorstep.messaging import service as message_service

    return {
        "claim jobs": (queue, "claim"),
        "decide (batch transaction)": (message_dispatch, "_prepare"),
        "render (MJML, Jinja, text)": (message_dispatch, "write"),
        "send (MIME + SMTP)": (smtp.Smtp, "send"),
        "record sent": (message_service, "mark_sent_many"),
        "complete jobs": (queue, "complete_many"),
    }


def _breakdown(count: int, sink_pid: int, run: Any) -> tuple[Any, dict[str, float]]:
    """Run ``run()`` with the stages timed; CPU milliseconds per message by stage and by process."""

    def processes() -> tuple[float, float, float]:
        return (
            _cpu.process_seconds(os.getpid()),
            _cpu.process_seconds(sink_pid),
            _cpu.named_seconds("postgres"),
        )

    stages = _cpu.Stages()
    before = processes()
    with _cpu.staged(stages, _stages()):
        result = run()
    after = processes()
    per = {name: seconds * 1000 / count for name, seconds in stages.seconds.items()}
    for name, start, end in zip(
        ("worker process", "SMTP sink process", "PostgreSQL"), before, after, strict=True
    ):
        per[f"= {name}"] = (end - start) * 1000 / count
    return result, per


def _doorstep(
    url: str, port: int, count: int, concurrency: int, sink_pid: int | None = None
) -> tuple[float, dict[str, float]]:
    """Messages per second, and (given the sink's pid) the CPU per message by stage and by process."""
    settings = _settings(url)
    engine = make_engine(settings, pool_size=concurrency + 4)
    migrate.upgrade(engine)
    factory = make_session_factory(engine)
    placed = datetime.now(UTC).isoformat()
    store_id = _bench_store(factory, port)
    with httpx.Client() as client:

        def run_worker() -> tuple[float, Any]:
            started = time.perf_counter()
            stats = _run_once(factory, settings, client, concurrency)
            return time.perf_counter() - started, stats

        _place(factory, store_id, range(count, count + WARM_UP), placed)
        run_worker()
        heap.settle()  # as `doorstep worker` does once started (the procrastinate run after this shares it)
        _place(factory, store_id, range(count), placed)
        per: dict[str, float] = {}
        if sink_pid is None:
            seconds, stats = run_worker()
        else:
            (seconds, stats), per = _breakdown(count, sink_pid, run_worker)
    _check_sent(factory, count, WARM_UP, stats)
    engine.dispose()
    return count / seconds, per


def _run_once(
    factory: sessionmaker[Session], settings: Settings, client: httpx.Client, concurrency: int
) -> Any:
    """The worker as the benchmark runs it: ``message.send`` only, until nothing is due; its stats."""
    return Worker(
        Runtime(factory, settings, client), handlers={"message.send": HANDLERS["message.send"]},
        schedule=(), concurrency=concurrency, batch=concurrency * 2, idle=0.001,
    ).run(threading.Event(), once=True)  # fmt: skip


def _check_sent(factory: sessionmaker[Session], count: int, warm_up: int, stats: object = None) -> None:
    with transaction(factory) as session:
        sent = len(list(session.scalars(select(Message.id).where(Message.status == "sent")))) - warm_up
    if sent != count:
        raise RuntimeError(f"only {sent} of {count} messages were sent" + (f": {stats}" if stats else ""))


def _settings(url: str) -> Settings:
    return Settings(
        database_url=url, base_url="https://track.example", channels=ChannelSettings(devbox=False),
        security=SecuritySettings(secret_key=SecretStr(SECRET)),
    )  # fmt: skip


def _doorstep_child(url: str, concurrency: int, ready: Any, go: Any, ends: Any) -> None:
    """One of ``--processes`` worker processes: warm up on the jobs due now, then run the timed ones."""
    settings = _settings(url)
    engine = make_engine(settings, pool_size=concurrency + 4)
    factory = make_session_factory(engine)
    with httpx.Client() as client:
        for _ in range(2):  # the warm-up, then the timed run
            _run_once(factory, settings, client, concurrency)
            if not ready.is_set():
                heap.settle()
                ready.set()
                go.wait()
    ends.put(time.perf_counter())
    engine.dispose()


def _doorstep_processes(url: str, port: int, count: int, concurrency: int, processes: int) -> float:
    """Messages per second from ``processes`` worker processes (what ``doorstep worker --processes`` runs),
    timed from the moment the warmed-up children may start to the last one's end."""
    settings = _settings(url)
    engine = make_engine(settings)
    migrate.upgrade(engine)
    factory = make_session_factory(engine)
    store_id = _bench_store(factory, port)
    placed = datetime.now(UTC).isoformat()
    _place(factory, store_id, range(count, count + WARM_UP * processes), placed)
    seconds = _timed_children(
        _doorstep_child,
        (url, concurrency),
        processes,
        lambda: _place(factory, store_id, range(count), placed),
    )
    _check_sent(factory, count, WARM_UP * processes)
    engine.dispose()
    return count / seconds


def _timed_children(target: Any, args: tuple[Any, ...], processes: int, place: Any) -> float:
    """Seconds from letting ``processes`` warmed-up children of ``target`` run to the last one's end.

    Each child is called with ``*args, ready, go, ends``: it warms up, sets ``ready``, waits for ``go``,
    runs the jobs ``place()`` queued meanwhile, then puts its end time in ``ends``."""
    spawn = multiprocessing.get_context("spawn")
    go, ends = spawn.Event(), spawn.Queue()
    readies = [spawn.Event() for _ in range(processes)]
    children = [spawn.Process(target=target, args=(*args, ready, go, ends)) for ready in readies]
    for child in children:
        child.start()
    for ready in readies:
        ready.wait(timeout=120)
    place()
    started = time.perf_counter()
    go.set()
    ended = max(float(ends.get(timeout=600)) for _ in children)
    for child in children:
        child.join()
    return ended - started


def _procrastinate(url: str, count: int, concurrency: int, processes: int = 1) -> float:
    if processes > 1:
        return _procrastinate_processes(url, count, concurrency, processes)
    app = _procrastinate_app(url)
    noop = app.tasks["bench_noop"]

    async def run() -> float:
        async with app.open_async():
            await app.schema_manager.apply_schema_async()
            await noop.batch_defer_async(*[{"n": n} for n in range(WARM_UP)])
            await app.run_worker_async(
                wait=False, concurrency=concurrency, install_signal_handlers=False, listen_notify=False
            )
            jobs: list[dict[str, Any]] = [{"n": n} for n in range(count)]
            await noop.batch_defer_async(*jobs)
            started = time.perf_counter()
            await app.run_worker_async(
                wait=False, concurrency=concurrency, install_signal_handlers=False, listen_notify=False
            )
            return time.perf_counter() - started

    seconds = asyncio.run(run())
    _check_procrastinate(url, count, WARM_UP)
    return count / seconds


def _conninfo(url: str) -> str:
    """The SQLAlchemy URL as psycopg and procrastinate take it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _check_procrastinate(url: str, count: int, warm_up: int) -> None:
    with psycopg.connect(_conninfo(url)) as connection:
        row = connection.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'"
        ).fetchone()
    done = (int(row[0]) if row else 0) - warm_up
    if done != count:
        raise RuntimeError(f"procrastinate ran {done} of {count} jobs")


def _procrastinate_app(url: str) -> Any:
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=_conninfo(url)))
    app.task(name="bench_noop")(_noop)
    return app


def _noop(n: int) -> None:
    return None


def _procrastinate_child(url: str, concurrency: int, ready: Any, go: Any, ends: Any) -> None:
    app = _procrastinate_app(url)

    async def run() -> None:
        async with app.open_async():
            for _ in range(2):  # the warm-up, then the timed run
                await app.run_worker_async(
                    wait=False, concurrency=concurrency, install_signal_handlers=False, listen_notify=False
                )
                if not ready.is_set():
                    heap.settle()
                    ready.set()
                    await asyncio.to_thread(go.wait)

    asyncio.run(run())
    ends.put(time.perf_counter())


def _procrastinate_processes(url: str, count: int, concurrency: int, processes: int) -> float:
    """procrastinate in ``processes`` worker processes, timed like :func:`_doorstep_processes`."""
    app = _procrastinate_app(url)
    task = app.tasks["bench_noop"]

    async def defer(numbers: range, *, schema: bool) -> None:
        async with app.open_async():
            if schema:
                await app.schema_manager.apply_schema_async()
            await task.batch_defer_async(*[{"n": n} for n in numbers])

    asyncio.run(defer(range(WARM_UP * processes), schema=True))
    seconds = _timed_children(
        _procrastinate_child, (url, concurrency), processes,
        lambda: asyncio.run(defer(range(count), schema=False)),
    )  # fmt: skip
    _check_procrastinate(url, count, WARM_UP * processes)
    return count / seconds


def _smtplib(port: int, count: int, html_size: int) -> float:
    messages = []
    for n in range(count):
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = (
            "hello@bench.example",
            f"s{n}@example.com",
            "Order",
        )
        message.set_content("Thanks for your order.\n" * 10)
        message.add_alternative("<p>" + "x" * html_size + "</p>", subtype="html")
        messages.append(message)
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as server:
        for message in messages:
            server.send_message(message)
    return count / (time.perf_counter() - started)


def _html_size() -> int:
    """The size of the order confirmation Doorstep sends, so the smtplib loop sends as many bytes."""
    source = render.default_source("order.placed", Kind.email, "en")
    rendered = render.render_source(source, kind=Kind.email, locale="en", context=sample_context())
    return len(rendered.html or "") + len(rendered.text)


def run(count: int, concurrency: int, *, breakdown: bool = False, processes: int = 1) -> dict[str, Any]:
    with _smtp_sink() as (port, sink_pid), _scratch_database() as url:
        per: dict[str, float] = {}
        if processes > 1:
            ours = _doorstep_processes(url, port, count, concurrency, processes)
        else:
            ours, per = _doorstep(url, port, count, concurrency, sink_pid if breakdown else None)
        theirs = _procrastinate(url, count, concurrency, processes)
        raw = _smtplib(port, count, _html_size())
    return {"doorstep": ours, "procrastinate": theirs, "smtplib": raw, "breakdown": per}


def run_figure(count: int = 300, concurrency: int = 8) -> Figure:
    """The figure for `python -m benchmarks`: 300 e-mails to a local SMTP sink on PostgreSQL."""
    result = run(count, concurrency)
    return Figure(
        name="dispatch",
        value=result["doorstep"],
        unit="messages/s",
        baseline=result["smtplib"],
        baseline_name="raw smtplib",
        note=f"procrastinate no-op jobs {result['procrastinate']:,.0f}/s, "
        f"ratio {result['doorstep'] / result['procrastinate']:.2f}",
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--processes", type=int, default=1, help="worker processes for both queues, each with --concurrency"
    )
    parser.add_argument(
        "--breakdown", action="store_true",
        help="also print the worker's CPU per message by stage (thread CPU time) and each process's",
    )  # fmt: skip
    options = parser.parse_args()
    if options.breakdown and options.processes > 1:
        parser.error("--breakdown times one process: leave out --processes")
    r = run(options.messages, options.concurrency, breakdown=options.breakdown, processes=options.processes)
    print(
        f"dispatch (postgresql, {options.messages} e-mails, {options.processes} process(es) "
        f"x concurrency {options.concurrency}): "
        f"worker {r['doorstep']:,.0f} messages/s to SMTP · procrastinate {r['procrastinate']:,.0f} no-op jobs/s "
        f"· ratio {r['doorstep'] / r['procrastinate']:.2f} · raw smtplib {r['smtplib']:,.0f} messages/s "
        f"· ratio {r['doorstep'] / r['smtplib']:.2f}"
    )
    if options.breakdown:
        print("CPU per message (ms), the timed worker run; stages are thread CPU, summed over threads:")
        for name, ms in r["breakdown"].items():
            print(f"  {name:<28} {ms:6.3f}")


if __name__ == "__main__":
    main()
