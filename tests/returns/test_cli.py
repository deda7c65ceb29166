"""`doorstep connections set --provider refund_webhook`: the refund channel for platforms other than Shopify."""

import json

from typer.testing import CliRunner

from doorstep.cli.main import app


def test_refund_webhook_connection_is_validated_and_stored(database_url: str) -> None:
    runner, env = CliRunner(), {"DOORSTEP_DATABASE_URL": database_url}
    assert runner.invoke(app, ["stores", "create", "shop2", "--name", "Shop 2"], env=env).exit_code == 0
    config = {"url": "https://erp.example/refunds", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}

    stored = runner.invoke(
        app, ["connections", "set", "--store", "shop2", "--provider", "refund_webhook", "--config", json.dumps(config)],
        env=env,
    )  # fmt: skip
    bad = runner.invoke(
        app, ["connections", "set", "--store", "shop2", "--provider", "refund_webhook", "--config", '{"url": "ftp://x"}'],
        env=env,
    )  # fmt: skip
    listed = runner.invoke(app, ["connections", "list", "--store", "shop2"], env=env)

    assert stored.exit_code == 0, stored.output
    assert "refunds are POSTed to https://erp.example/refunds" in " ".join(stored.stdout.split())
    assert bad.exit_code != 0
    assert "invalid refund_webhook configuration" in bad.stderr
    assert listed.stdout.split() == ["refund_webhook"]
