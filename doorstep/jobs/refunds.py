"""Send the refunds resolved returns and claims queued (the ``returns.refunds`` job).

The returns domain decides amounts and lines and writes ``pending`` rows; this module does the I/O: per
store, it reads due refunds and the store's connections in one short transaction, calls the platform outside
any transaction, then records each answer in its own transaction (so a slow platform never holds a lock, and
a crash between the call and the record only repeats a call the platform deduplicates by refund id).
Channel: Shopify when the store connected it with an access token, else its refund webhook, else the refund
fails at once with a reason saying what to connect.
"""

from dataclasses import dataclass

import httpx
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from doorstep.core import clock
from doorstep.db import transaction
from doorstep.integrations.commerce import refund_webhook, shopify, shopify_refunds
from doorstep.integrations.commerce.refunds import RefundAnswer
from doorstep.returns import refunds as refund_service
from doorstep.returns.commands import IssueRefund, RefundLineInput
from doorstep.stores import service as store_service

NO_CHANNEL = (
    "no refund channel: connect Shopify with an access_token, or a refund_webhook "
    "(doorstep connections set --provider refund_webhook), then retry the refund"
)


@dataclass
class Report:
    sent: int = 0
    failed: int = 0


def _command(due: refund_service.DueRefund) -> IssueRefund:
    return IssueRefund(
        refund_id=due.refund_id, order_external_id=due.order_external_id, order_id=due.order_public_id,
        return_id=due.return_id, rma=due.rma, amount_minor=due.amount_minor, currency=due.currency,
        lines=tuple(
            RefundLineInput(
                line_external_id=str(line["line_external_id"]),
                quantity=int(str(line["quantity"])),
                restock=bool(line.get("restock", True)),
            )
            for line in due.lines
            if line.get("line_external_id")
        ),
    )  # fmt: skip


def _send(
    client: httpx.Client, cmd: IssueRefund, connections: dict[str, dict[str, object] | None]
) -> tuple[str, RefundAnswer]:
    try:
        shop = connections.get(shopify.NAME)
        if shop is not None and shop.get("access_token"):
            return shopify.NAME, shopify_refunds.send(client, shopify.Config.model_validate(shop), cmd)
        hook = connections.get(refund_webhook.NAME)
        if hook is not None:
            return refund_webhook.NAME, refund_webhook.send(
                client, refund_webhook.Config.model_validate(hook), cmd
            )
    except ValidationError as exc:
        return "none", RefundAnswer(
            False, error=f"the stored connection is invalid: {exc}"[:500], retryable=False
        )
    return "none", RefundAnswer(False, error=NO_CHANNEL, retryable=False)


def send_due(factory: sessionmaker[Session], *, secret: str, client: httpx.Client) -> Report:
    report = Report()
    with transaction(factory) as session:
        store_ids = [s.id for s in store_service.list_stores(session)]
    for store_id in store_ids:
        with transaction(factory) as session:
            due = refund_service.due_refunds(session, store_id=store_id, now=clock.now())
            if not due:
                continue
            connections = {
                name: store_service.get_connection(session, store_id=store_id, provider=name, secret=secret)
                for name in (shopify.NAME, refund_webhook.NAME)
            }
        for item in due:
            channel, answer = _send(client, _command(item), connections)
            with transaction(factory) as session:
                refund_service.record_result(
                    session, store_id=store_id, refund_id=item.refund_id, channel=channel, ok=answer.ok,
                    external_id=answer.external_id, error=answer.error, retryable=answer.retryable,
                )  # fmt: skip
            if answer.ok:
                report.sent += 1
            else:
                report.failed += 1
    return report
