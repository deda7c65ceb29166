"""/api/v1/returns, /api/v1/claims, /api/v1/store-credits and /api/v1/analytics/returns.

Writes are recorded in the inbound log and applied once per Idempotency-Key (``inbound/returns_topics.py``);
reads call exactly one service function each.
"""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import ValidationError

from doorstep.core.errors import invalid_from_validation
from doorstep.db import read_transaction
from doorstep.returns import analytics as analytics_service
from doorstep.returns import claims as claim_service
from doorstep.returns import credit as credit_service
from doorstep.returns import refunds as refund_service
from doorstep.returns import service as return_service
from doorstep.returns.commands import (
    ApproveReturn,
    ClaimKind,
    CreateReturnForOrder,
    DecideClaim,
    FileClaimForOrder,
    InspectReturn,
    IssueLabel,
    ProposeReturn,
    QuoteReturnForOrder,
    ReceiveReturn,
    RedeemCredit,
    RejectReturn,
    ResolveReturn,
    RetryRefund,
    UpdatePolicy,
)
from doorstep.returns.lifecycle import Status
from doorstep.returns.policy import Reason, Resolution
from doorstep.returns.schemas import (
    ClaimOptionRead,
    ClaimPage,
    ClaimRead,
    EligibilityRead,
    ItemEligibilityRead,
    PolicyRead,
    QuoteRead,
    RefundRead,
    ReturnAnalytics,
    ReturnPage,
    ReturnRead,
    StoreCreditRead,
)
from doorstep.web.deps import AppSettings, CurrentStore, Cursor, Db, IdempotencyKey, Limit, RawBody
from doorstep.web.idempotency import json_body, submit_write

router = APIRouter(tags=["returns"])

_RETURN: dict[int | str, dict[str, Any]] = {200: {"model": ReturnRead}, 201: {"model": ReturnRead}}
_CLAIM: dict[int | str, dict[str, Any]] = {200: {"model": ClaimRead}, 201: {"model": ClaimRead}}


# --- policy, eligibility and quotes (before /returns/{return_id}) -------------------------------------


@router.get("/returns/policy")
def get_policy(db: Db, store: CurrentStore) -> PolicyRead:
    """The store's return policy (the documented default until one is saved)."""
    with read_transaction(db) as session:
        revision, policy = return_service.get_policy_with_revision(session, store_id=store.id)
        return PolicyRead(revision=revision, is_default=revision == 0, policy=policy)


@router.put("/returns/policy", openapi_extra=json_body(UpdatePolicy), responses={200: {"model": PolicyRead}})
def put_policy(
    request: Request,
    db: Db,
    settings: AppSettings,
    store: CurrentStore,
    body: RawBody,
    key: IdempotencyKey = None,
) -> Response:
    """Replace the return policy with a validated document (problems name each field and its fix)."""
    return submit_write(request, db, settings, store, "returns.policy.update", body, key)


@router.get("/returns/eligibility")
def get_eligibility(
    db: Db, store: CurrentStore, order_id: Annotated[str, Query(description="The order (ord_...).")]
) -> EligibilityRead:
    """Per line item: can it be returned, how many units, and if not why (a code and plain words)."""
    with read_transaction(db) as session:
        e = return_service.get_eligibility(session, store_id=store.id, order_id=order_id)
        return EligibilityRead(
            order_id=e.order_id, currency=e.currency, delivered_at=e.delivered_at,
            items=[ItemEligibilityRead.of(i) for i in e.items], resolutions=[r.value for r in e.resolutions],
            methods=[m.value for m in e.methods], keep_it_line_ids=list(e.keep_it_line_ids),
        )  # fmt: skip


@router.post("/returns/quote", openapi_extra=json_body(QuoteReturnForOrder))
def quote_return(db: Db, store: CurrentStore, body: RawBody) -> QuoteRead:
    """The refund breakdown of a proposed return, computed by the server (changes nothing)."""
    try:
        cmd = QuoteReturnForOrder.model_validate_json(body or b"{}")
    except ValidationError as exc:
        # The same problem shape as recorded writes: fields named from the body's root.
        raise invalid_from_validation(list(exc.errors())) from exc  # type: ignore[arg-type]
    inner = ProposeReturn.model_validate(cmd.model_dump(exclude={"order_id"}))
    with read_transaction(db) as session:
        return QuoteRead.of(
            return_service.quote_return(session, store_id=store.id, order_id=cmd.order_id, cmd=inner)
        )


# --- returns ------------------------------------------------------------------------------------------


@router.post("/returns", status_code=201, openapi_extra=json_body(CreateReturnForOrder), responses=_RETURN)
def create_return(
    request: Request,
    db: Db,
    settings: AppSettings,
    store: CurrentStore,
    body: RawBody,
    key: IdempotencyKey = None,
) -> Response:
    """Open a return for an order on the shopper's behalf (same rules as the portal)."""
    return submit_write(request, db, settings, store, "returns.create", body, key)


@router.get("/returns")
def list_returns(
    db: Db,
    store: CurrentStore,
    limit: Limit,
    cursor: Cursor = None,
    status: Annotated[Status | None, Query(description="Lifecycle status.")] = None,
    resolution: Annotated[
        Resolution | None, Query(description="refund, store_credit, exchange or keep.")
    ] = None,
    order_id: Annotated[str | None, Query(description="Only this order's returns.")] = None,
    reason: Annotated[
        Reason | None, Query(description="Returns with at least one item for this reason.")
    ] = None,
) -> ReturnPage:
    """Newest first; follow next_cursor for the next page."""
    with read_transaction(db) as session:
        rows, next_cursor = return_service.list_returns(
            session, store_id=store.id, limit=limit, cursor=cursor, status=status, resolution=resolution,
            order_id=order_id, reason=reason.value if reason else None,
        )  # fmt: skip
        return ReturnPage(data=[ReturnRead.of(r) for r in rows], next_cursor=next_cursor)


@router.get("/returns/{return_id}")
def get_return(return_id: str, db: Db, store: CurrentStore) -> ReturnRead:
    with read_transaction(db) as session:
        return ReturnRead.of(return_service.get_return(session, store_id=store.id, return_id=return_id))


@router.get("/returns/{return_id}/refunds")
def list_return_refunds(return_id: str, db: Db, store: CurrentStore) -> list[RefundRead]:
    """The refund the return sent (or is sending) through the platform, with its status and last error."""
    with read_transaction(db) as session:
        request = return_service.get_return(session, store_id=store.id, return_id=return_id)
        return [RefundRead.of(r) for r in refund_service.list_for_return(session, request=request)]


def _action(name: str, model: type[Any], summary: str, *, required: bool = False) -> None:
    def route(
        return_id: str, request: Request, db: Db, settings: AppSettings, store: CurrentStore, body: RawBody,
        key: IdempotencyKey = None,
    ) -> Response:  # fmt: skip
        return submit_write(request, db, settings, store, f"returns.{name}", body, key, return_id=return_id)

    route.__name__ = f"{name}_return"
    route.__doc__ = summary
    router.post(
        f"/returns/{{return_id}}/{name}", openapi_extra=json_body(model, required=required), responses=_RETURN
    )(route)


_action(
    "approve", ApproveReturn, "Approve a requested return (instant exchanges create the replacement order)."
)
_action("reject", RejectReturn, "Reject an open return with a reason code and plain words.", required=True)
_action(
    "label",
    IssueLabel,
    "Attach the return parcel (carrier + tracking number); scans then move the return.",
    required=True,
)
_action(
    "receive", ReceiveReturn, "Mark the items as received (in store, or before the parcel's delivery scan)."
)
_action("inspect", InspectReturn, "Record how many units passed inspection; the money is scaled to them.")
_action(
    "resolve", ResolveReturn, "Settle: refund queued for the platform, store credit issued, exchange closed."
)


@router.post(
    "/returns/{return_id}/refunds/{refund_id}/retry",
    openapi_extra=json_body(RetryRefund, required=False),
    responses={200: {"model": RefundRead}},
)
def retry_refund(
    return_id: str, refund_id: str, request: Request, db: Db, settings: AppSettings, store: CurrentStore,
    body: RawBody, key: IdempotencyKey = None,
) -> Response:  # fmt: skip
    """Send a failed refund again (after fixing the platform connection)."""
    return submit_write(request, db, settings, store, "returns.refund.retry", body, key, refund_id=refund_id)


# --- claims -------------------------------------------------------------------------------------------


@router.get("/claims/eligibility")
def claim_eligibility(
    db: Db, store: CurrentStore, shipment_id: Annotated[str, Query(description="The parcel (shp_...).")]
) -> list[ClaimOptionRead]:
    """Per claim kind: can it be filed for this parcel now, and if not why."""
    with read_transaction(db) as session:
        options = claim_service.claimable(session, store_id=store.id, shipment_id=shipment_id)
        return [
            ClaimOptionRead(kind=o.kind.value, allowed=o.allowed, reason=o.reason, message=o.message,
                            available_at=o.available_at)
            for o in options
        ]  # fmt: skip


@router.post("/claims", status_code=201, openapi_extra=json_body(FileClaimForOrder), responses=_CLAIM)
def file_claim(
    request: Request,
    db: Db,
    settings: AppSettings,
    store: CurrentStore,
    body: RawBody,
    key: IdempotencyKey = None,
) -> Response:
    """File a package-protection claim (low-value claims are approved and settled at once by policy)."""
    return submit_write(request, db, settings, store, "claims.create", body, key)


@router.get("/claims")
def list_claims(
    db: Db,
    store: CurrentStore,
    limit: Limit,
    cursor: Cursor = None,
    status: Annotated[str | None, Query(description="filed, resolved or rejected.")] = None,
    kind: Annotated[ClaimKind | None, Query(description="lost, damaged, stolen or wrong_item.")] = None,
) -> ClaimPage:
    with read_transaction(db) as session:
        rows, next_cursor = claim_service.list_claims(
            session, store_id=store.id, limit=limit, cursor=cursor, status=status, kind=kind
        )
        return ClaimPage(data=[ClaimRead.of(c) for c in rows], next_cursor=next_cursor)


@router.get("/claims/{claim_id}")
def get_claim(claim_id: str, db: Db, store: CurrentStore) -> ClaimRead:
    with read_transaction(db) as session:
        return ClaimRead.of(claim_service.get_claim(session, store_id=store.id, claim_id=claim_id))


@router.post("/claims/{claim_id}/decide", openapi_extra=json_body(DecideClaim), responses=_CLAIM)
def decide_claim(
    claim_id: str, request: Request, db: Db, settings: AppSettings, store: CurrentStore, body: RawBody,
    key: IdempotencyKey = None,
) -> Response:  # fmt: skip
    """Approve (reship or refund) or decline a filed claim."""
    return submit_write(request, db, settings, store, "claims.decide", body, key, claim_id=claim_id)


# --- store credit and analytics -------------------------------------------------------------------------


@router.get("/store-credits/{credit_id}")
def get_store_credit(credit_id: str, db: Db, store: CurrentStore) -> StoreCreditRead:
    """A credit's balance and ledger (the code's last four characters only)."""
    with read_transaction(db) as session:
        return StoreCreditRead.of(credit_service.get_credit(session, store_id=store.id, credit_id=credit_id))


@router.post(
    "/store-credits/redeem",
    openapi_extra=json_body(RedeemCredit),
    responses={200: {"model": StoreCreditRead}},
)
def redeem_store_credit(
    request: Request,
    db: Db,
    settings: AppSettings,
    store: CurrentStore,
    body: RawBody,
    key: IdempotencyKey = None,
) -> Response:
    """Spend credit from a code; the same reference is charged once."""
    return submit_write(request, db, settings, store, "store_credits.redeem", body, key)


@router.get("/analytics/returns")
def return_analytics(
    db: Db,
    store: CurrentStore,
    since: Annotated[datetime | None, Query(description="Orders placed at or after (ISO 8601).")] = None,
    until: Annotated[datetime | None, Query(description="Orders placed before (ISO 8601).")] = None,
) -> ReturnAnalytics:
    """Return rate by product and by reason, refund/credit/exchange shares and revenue retained."""
    with read_transaction(db) as session:
        return analytics_service.return_analytics(session, store_id=store.id, since=since, until=until)
