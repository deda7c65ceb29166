"""`doorstep import olist|shopify-orders` and `doorstep demo --data olist`, run through the CLI in-process."""

import csv
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from doorstep.cli import context
from doorstep.cli.main import app
from tests.factories.stores import StoreWithKey

PAYLOADS = Path(__file__).resolve().parents[1] / "payloads" / "imports"


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    for console in (context.console, context.errors):
        monkeypatch.setattr(console, "_width", 250)


@pytest.mark.usefixtures("backend")
def test_import_olist_prints_a_summary_and_a_rerun_imports_nothing(
    database_url: str, store: StoreWithKey, tmp_path: Path
) -> None:
    runner = CliRunner()
    env = {"DOORSTEP_DATABASE_URL": database_url}
    directory = tmp_path / "olist"
    shutil.copytree(PAYLOADS / "olist_small", directory)

    first = runner.invoke(app, ["import", "olist", str(directory), "--store", store.slug], env=env)
    again = runner.invoke(app, ["import", "olist", str(directory), "--store", store.slug], env=env)

    assert first.exit_code == 0, (first.stdout, first.stderr)
    assert "orders imported" in first.stdout
    assert "39" in first.stdout.split("orders imported")[1].splitlines()[0]
    assert again.exit_code == 0, again.stderr
    assert "0" in again.stdout.split("orders imported")[1].splitlines()[0]
    assert not (tmp_path / "olist.rejects.csv").exists()  # nothing was rejected


@pytest.mark.usefixtures("backend")
def test_import_shopify_orders_writes_rejects_where_asked(
    database_url: str, store: StoreWithKey, tmp_path: Path
) -> None:
    source = tmp_path / "orders_export.csv"
    shutil.copy(PAYLOADS / "shopify_orders_export__sample.csv", source)
    with source.open("a") as handle:
        handle.write("#2000" + "," * (source.read_text().splitlines()[0].count(",")) + "\n")
    rejects = tmp_path / "out" / "bad.csv"
    rejects.parent.mkdir()

    result = CliRunner().invoke(
        app,
        ["import", "shopify-orders", str(source), "--store", store.slug, "--rejects", str(rejects)],
        env={"DOORSTEP_DATABASE_URL": database_url},
    )

    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert list(csv.DictReader(rejects.open())) == [
        {
            "file": "orders_export.csv",
            "line": "9",
            "reason": "order #2000: Currency '' is not an ISO 4217 code",
        }
    ]


def test_an_unknown_store_is_refused(database_url: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["import", "olist", str(PAYLOADS / "olist_small"), "--store", "nope"],
        env={"DOORSTEP_DATABASE_URL": database_url},
    )

    assert result.exit_code == 1
    assert "store 'nope' not found" in result.stderr


def test_demo_serves_olist_history(database_url: str) -> None:
    result = CliRunner().invoke(
        app,
        [
            "demo",
            "--no-serve",
            "--orders",
            "2",
            "--data",
            "olist",
            "--data-dir",
            str(PAYLOADS / "olist_small"),
        ],
        env={"DOORSTEP_DATABASE_URL": database_url},
    )

    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    assert "orders imported" in result.stdout
