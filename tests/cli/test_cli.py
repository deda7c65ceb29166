"""The `doorstep` command line, run in-process against the test database."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from doorstep import migrate
from doorstep.cli import context
from doorstep.cli.main import app
from doorstep.core.errors import NotFound
from doorstep.inbound import topics
from doorstep.inbound.topics import Result as Applied
from tests.factories.orders import order_body, phone, shipment_body, with_customer
from tests.factories.stores import StoreWithKey


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich fits tables to the terminal (80 columns when there is none, e.g. under xdist); a fixed wide
    console keeps every id and value on one line, so what is asserted absent is really absent."""
    for console in (context.console, context.errors):
        monkeypatch.setattr(console, "_width", 250)
        monkeypatch.setattr(console, "_height", 50)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def env(database_url: str) -> dict[str, str]:
    return {"DOORSTEP_DATABASE_URL": database_url}


def run(runner: CliRunner, env: dict[str, str], *args: str) -> Result:
    return runner.invoke(app, list(args), env=env)


def ok(result: Result) -> str:
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result.stdout


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# --- migrate --------------------------------------------------------------------------------------------


def test_migrate_reports_the_head_revision(runner: CliRunner, env: dict[str, str]) -> None:
    out = ok(run(runner, env, "migrate"))

    assert out == f"database at revision {', '.join(sorted(migrate.head_revisions()))}\n"


def test_migrate_builds_an_empty_database_that_the_other_commands_use(
    runner: CliRunner, tmp_path: Path
) -> None:
    # given an empty SQLite file, named with the --database-url option
    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"

    # when it is migrated and a store is created in it
    migrated = run(runner, {}, "--database-url", url, "migrate")
    created = run(runner, {}, "--database-url", url, "stores", "create", "fresh")

    # then both succeed
    assert ok(migrated) == f"database at revision {', '.join(sorted(migrate.head_revisions()))}\n"
    assert ok(created).startswith("created store fresh (sto_")


# --- stores and keys ------------------------------------------------------------------------------------


def test_stores_create_and_list(runner: CliRunner, env: dict[str, str]) -> None:
    created = ok(run(runner, env, "stores", "create", "shop2", "--name", "Shop 2", "--currency", "EUR"))

    listed = ok(run(runner, env, "stores", "list"))

    assert created.startswith("created store shop2 (sto_")
    store_id = created.split("(")[1].split(")")[0]
    [row] = [line for line in listed.splitlines() if "shop2" in line]
    assert [cell.strip() for cell in row.strip("│ ").split("│")] == [
        store_id,
        "shop2",
        "Shop 2",
        "en",
        "UTC",
        "EUR",
    ]


def test_a_taken_or_invalid_slug_is_refused(runner: CliRunner, env: dict[str, str]) -> None:
    ok(run(runner, env, "stores", "create", "shop2"))

    taken = run(runner, env, "stores", "create", "shop2")
    invalid = run(runner, env, "stores", "create", "Shop Two")

    assert taken.exit_code == 1
    assert "a store with slug 'shop2' already exists" in taken.stderr
    assert invalid.exit_code == 1
    assert "slug" in invalid.stderr
    listed = ok(run(runner, env, "stores", "list"))
    assert len([line for line in listed.splitlines() if "shop2" in line]) == 1
    assert "Shop Two" not in listed


def test_a_created_key_is_printed_alone_and_authenticates(
    runner: CliRunner, env: dict[str, str], client: TestClient
) -> None:
    # given a store made with the CLI
    ok(run(runner, env, "stores", "create", "shop2", "--name", "Shop 2"))

    # when a key is created
    result = run(runner, env, "keys", "create", "--store", "shop2")

    # then stdout is exactly the key (the notice goes to stderr), and the API accepts it
    key = ok(result).strip()
    assert ok(result) == key + "\n"
    assert key.startswith("dsk_")
    assert "shown once" in result.stderr
    me = client.get("/api/v1/stores/me", headers=bearer(key))
    assert me.status_code == 200, me.text
    assert (me.json()["slug"], me.json()["name"]) == ("shop2", "Shop 2")


def test_a_revoked_key_gets_401(runner: CliRunner, env: dict[str, str], client: TestClient) -> None:
    # given a working key for shop2
    ok(run(runner, env, "stores", "create", "shop2"))
    key = ok(run(runner, env, "keys", "create", "--store", "shop2")).strip()
    assert client.get("/api/v1/stores/me", headers=bearer(key)).status_code == 200

    # when it is revoked by the prefix `keys list` shows
    prefix = "_".join(key.split("_")[:2])
    assert prefix in ok(run(runner, env, "keys", "list", "--store", "shop2"))
    revoked = ok(run(runner, env, "keys", "revoke", prefix))

    # then the API refuses it
    assert revoked.startswith("revoked key_")
    assert f"({prefix})" in revoked
    response = client.get("/api/v1/stores/me", headers=bearer(key))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_keys_for_an_unknown_store_or_key_fail(runner: CliRunner, env: dict[str, str]) -> None:
    no_store = run(runner, env, "keys", "create", "--store", "nowhere")
    no_key = run(runner, env, "keys", "revoke", "dsk_000000000000")

    assert no_store.exit_code == 1
    assert "store 'nowhere' not found" in no_store.stderr
    assert no_store.stdout == ""
    assert no_key.exit_code == 1
    assert "not found" in no_key.stderr


# --- events ---------------------------------------------------------------------------------------------


@contextmanager
def broken_orders() -> Iterator[None]:
    """Order creation fails inside this block, as it would during an outage or before a bug fix."""

    def broken(session: Session, store_id: int, body: bytes, params: dict[str, Any]) -> Applied:
        raise NotFound("the catalogue is not loaded yet")

    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(topics.API_TOPICS, "orders.create", broken)
        yield


def order_ids(client: TestClient, store: StoreWithKey) -> list[str]:
    return [o["id"] for o in client.get("/api/v1/orders", headers=store.headers).json()["data"]]


def test_events_list_and_show(
    runner: CliRunner, env: dict[str, str], client: TestClient, store: StoreWithKey
) -> None:
    # given one applied and one rejected API write
    applied = client.post("/api/v1/orders", json=order_body(), headers=store.headers)
    rejected = client.post(
        "/api/v1/shipments", json=shipment_body("ord_000000000000000000000000"), headers=store.headers
    )
    applied_id, rejected_id = applied.headers["X-Doorstep-Event"], rejected.headers["X-Doorstep-Event"]

    # when the rejected events are listed, and the rejected one is shown
    listed = ok(run(runner, env, "events", "list", "--status", "rejected"))
    by_store = ok(run(runner, env, "events", "list", "--store", "acme"))
    shown = ok(run(runner, env, "events", "show", rejected_id))

    # then the list has it (and not the applied one), and show gives its outcome and raw body
    assert rejected_id in listed
    assert "order ord_000000000000000000000000 not found" in listed
    assert applied_id not in listed
    assert {applied_id, rejected_id} <= set(by_store.split())
    assert f'"id": "{rejected_id}"' in shown
    assert '"status": "rejected"' in shown
    assert '"topic": "shipments.create"' in shown
    assert '"reason": "order ord_000000000000000000000000 not found"' in shown
    assert '"tracking_number": "1Z999AA10123456781"' in shown


def test_events_show_an_unknown_id_fails(runner: CliRunner, env: dict[str, str]) -> None:
    result = run(runner, env, "events", "show", "evt_000000000000000000000000")

    assert result.exit_code == 1
    assert "inbound event evt_000000000000000000000000 not found" in result.stderr


def test_events_replay_applies_a_rejected_event_after_the_fix(
    runner: CliRunner,
    env: dict[str, str],
    client: TestClient,
    store: StoreWithKey,
) -> None:
    # given an order rejected while order creation was broken
    with broken_orders():
        response = client.post("/api/v1/orders", json=order_body(), headers=store.headers)
    assert response.status_code == 404
    event_id = response.headers["X-Doorstep-Event"]

    # when it is replayed from the command line
    out = ok(run(runner, env, "events", "replay", event_id))

    # then it is applied and the order exists
    assert out.strip() == f"{event_id}: applied"
    assert len(order_ids(client, store)) == 1
    assert client.get(f"/api/v1/events/{event_id}", headers=store.headers).json()["status"] == "applied"


def test_events_replay_of_a_still_failing_event_exits_1(
    runner: CliRunner, env: dict[str, str], client: TestClient, store: StoreWithKey
) -> None:
    response = client.post(
        "/api/v1/shipments", json=shipment_body("ord_000000000000000000000000"), headers=store.headers
    )

    result = run(runner, env, "events", "replay", response.headers["X-Doorstep-Event"])

    assert result.exit_code == 1
    assert result.stdout.strip() == (
        f"{response.headers['X-Doorstep-Event']}: rejected order ord_000000000000000000000000 not found"
    )


def test_events_replay_all_rejected(
    runner: CliRunner,
    env: dict[str, str],
    client: TestClient,
    store: StoreWithKey,
) -> None:
    # given two orders rejected while creation was broken, and a shipment for an order that never existed
    with broken_orders():
        for n in (1, 2):
            body = with_customer(order_body(n), phone=phone(n))
            assert client.post("/api/v1/orders", json=body, headers=store.headers).status_code == 404
    client.post(
        "/api/v1/shipments", json=shipment_body("ord_000000000000000000000000"), headers=store.headers
    )

    # when every rejected event is replayed
    out = ok(run(runner, env, "events", "replay", "--all-rejected"))

    # then the two orders are applied and the shipment is still rejected
    assert out.strip() == "replayed 3: 2 applied, 1 still rejected"
    assert len(order_ids(client, store)) == 2
    still = ok(run(runner, env, "events", "list", "--status", "rejected"))
    assert "shipments.create" in still
    assert "orders.create" not in still


@pytest.mark.parametrize(
    "args", [[], ["evt_000000000000000000000000", "--all-rejected"]], ids=["neither", "both"]
)
def test_events_replay_needs_exactly_one_target(
    runner: CliRunner, env: dict[str, str], args: list[str]
) -> None:
    result = run(runner, env, "events", "replay", *args)

    assert result.exit_code == 1
    assert "give an event id or --all-rejected (not both)" in result.stderr


# --- demo -----------------------------------------------------------------------------------------------


def demo_key(out: str) -> str:
    lines = out.splitlines()
    return lines[lines.index("API key (shown once):") + 1].strip()


def test_demo_seeds_nine_orders_with_a_working_key_and_is_idempotent(
    runner: CliRunner, env: dict[str, str], client: TestClient
) -> None:
    # given a fixed hour (the demo's data is relative to the current hour)
    with time_machine.travel(datetime(2026, 11, 23, 10, 15, tzinfo=UTC), tick=True):
        # when the demo is seeded twice
        first = ok(run(runner, env, "demo", "--no-serve", "--orders", "9"))
        second = ok(run(runner, env, "demo", "--no-serve", "--orders", "9"))

    # then each run prints a key that authenticates for the demo store
    keys = [demo_key(first), demo_key(second)]
    assert keys[0] != keys[1]
    for key in keys:
        me = client.get("/api/v1/stores/me", headers=bearer(key))
        assert me.status_code == 200, me.text
        assert me.json()["slug"] == "demo"
    # and there are 9 orders, one parcel each, one per scenario, never duplicated
    orders = client.get("/api/v1/orders", headers=bearer(keys[1])).json()["data"]
    shipments = client.get("/api/v1/shipments", headers=bearer(keys[1])).json()["data"]
    assert sorted(o["number"] for o in orders) == [f"#{1001 + n}" for n in range(9)]
    assert len(shipments) == 9
    assert sorted(s["status"] for s in shipments) == sorted(
        ["pending", "info_received", "in_transit", "out_for_delivery", "delivered", "attempt_failed",
         "available_for_pickup", "exception", "returned"]
    )  # fmt: skip
    assert "Doorstep demo — store demo, 9 orders" in first
    assert "delivered          order #1005" in first


def test_demo_can_be_rerun_in_a_later_hour(
    runner: CliRunner, env: dict[str, str], client: TestClient
) -> None:
    # given a demo seeded at 10:59 (its order times are relative to the current hour)
    with time_machine.travel(datetime(2026, 11, 23, 10, 59, tzinfo=UTC), tick=True):
        first = ok(run(runner, env, "demo", "--no-serve", "--orders", "3"))
    key = demo_key(first)
    before = client.get("/api/v1/orders", headers=bearer(key)).json()["data"]

    # when it is run again after the hour has turned
    with time_machine.travel(datetime(2026, 11, 23, 11, 1, tzinfo=UTC), tick=True):
        again = run(runner, env, "demo", "--no-serve", "--orders", "3")

    # then it succeeds and the three orders are the same ones, unchanged
    after = client.get("/api/v1/orders", headers=bearer(demo_key(ok(again)))).json()["data"]
    assert len(before) == 3
    assert after == before


# --- config ---------------------------------------------------------------------------------------------


def test_config_show_masks_the_secret_key(runner: CliRunner) -> None:
    secret = "a-real-secret-value-0123456789-abcdef"

    out = ok(runner.invoke(app, ["config", "show"], env={"DOORSTEP_SECURITY__SECRET_KEY": secret}))

    assert secret not in out
    [row] = [line for line in out.splitlines() if "DOORSTEP_SECURITY__SECRET_KEY" in line]
    assert "********" in row
    assert "DOORSTEP_API__MAX_BODY_BYTES" in out
    assert "Largest request body accepted by the API and webhooks, in bytes." in out


def test_config_show_hides_the_database_password(runner: CliRunner) -> None:
    url = "postgresql+psycopg://doorstep:hunter2-db-pass@db.internal:5432/doorstep"

    out = ok(runner.invoke(app, ["config", "show"], env={"DOORSTEP_DATABASE_URL": url}))

    assert "postgresql+psycopg://doorstep:***@db.internal:5432/doorstep" in out
    assert "hunter2-db-pass" not in out
