"""`doorstep serve --with-worker`: one process serves the API and runs the worker, so an order placed over
HTTP ends as a message in the devbox outbox without a separate `doorstep worker`."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from doorstep import migrate
from doorstep.config import Settings
from doorstep.db import make_engine, make_session_factory
from tests.factories.orders import order_body
from tests.factories.stores import make_store

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serve_with_worker_sends_what_the_api_schedules(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'doorstep.sqlite3'}"
    engine = make_engine(Settings(database_url=url))
    migrate.upgrade(engine)
    store = make_store(make_session_factory(engine), "allinone", name="All In One")
    engine.dispose()
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DOORSTEP_DATABASE_URL": url, "DOORSTEP_ENV": "dev"}
    process = subprocess.Popen(
        [sys.executable, "-c", "from doorstep.cli.main import app; app()", "serve", "--port", str(port),
         "--with-worker"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, headers=store.headers, timeout=10) as api:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if api.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
            body = order_body(1)
            body["placed_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            assert api.post("/api/v1/orders", json=body).status_code == 201
            deadline = time.monotonic() + 30
            while True:
                found = api.get("/api/v1/messages").json()["data"]
                if found and found[0]["status"] == "sent":
                    break
                assert time.monotonic() < deadline, f"no message was sent: {found}"
                time.sleep(0.2)
        assert (found[0]["milestone"], found[0]["channel"]) == ("order.placed", "devbox")
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
