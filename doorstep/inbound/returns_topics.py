"""API write topics for returns, claims, store credit and the return policy (see ``topics.py``).

Each handler parses the recorded body into a typed command and calls exactly one returns function.
"""

from typing import Any, TypeVar

from sqlalchemy.orm import Session

from doorstep.inbound.topics import Handler, Result, parse
from doorstep.returns import claims as claim_service
from doorstep.returns import credit as credit_service
from doorstep.returns import refunds as refund_service
from doorstep.returns import service as return_service
from doorstep.returns.commands import (
    ApproveReturn,
    CreateReturn,
    CreateReturnForOrder,
    DecideClaim,
    FileClaim,
    FileClaimForOrder,
    InspectReturn,
    IssueLabel,
    ReceiveReturn,
    RedeemCredit,
    RejectReturn,
    ResolveReturn,
    UpdatePolicy,
)
from doorstep.returns.schemas import ClaimRead, PolicyRead, RefundRead, ReturnRead, StoreCreditRead


def _read(applied: return_service.Applied, status: int = 200) -> Result:
    body = ReturnRead.of(applied.return_request).model_dump(mode="json")
    return Result(applied.return_request.public_id, status, body, applied.milestones)


def _create(session: Session, store_id: int, body: bytes, params: dict[str, Any]) -> Result:
    cmd = parse(CreateReturnForOrder, body)
    inner = CreateReturn.model_validate(cmd.model_dump(exclude={"order_id"}))
    applied = return_service.create_return(
        session, store_id=store_id, order_id=cmd.order_id, cmd=inner, source="api"
    )
    return _read(applied, 201 if applied.created else 200)


Optional = TypeVar("Optional", ApproveReturn, ReceiveReturn, InspectReturn, ResolveReturn)


def _optional(model: type[Optional], body: bytes) -> Optional:
    """A body that may be empty: every field of these commands has a default."""
    return parse(model, body) if body.strip() else model()


def _approve(session: Session, store_id: int, body: bytes, params: dict[str, Any]) -> Result:
    cmd = _optional(ApproveReturn, body)
    return _read(
        return_service.approve_return(session, store_id=store_id, return_id=params["return_id"], cmd=cmd)
    )


def _reject(session: Session, store_id: int, body: bytes, params: dict[str, Any]) -> Result:
    cmd = parse(RejectReturn, body)
    return _read(
        return_service.reject_return(session, store_id=store_id, return_id=params["return_id"], cmd=cmd)
    )


def _label(session: Session, store_id: int, body: bytes, params: dict[str, Any]) -> Result:
    cmd = parse(IssueLabel, body)
    return _read(
        return_service.issue_label(session, store_id=store_id, return_id=params["return_id"], cmd=cmd)
    )


def _receive(session: Session, store_id: int, body: bytes, params: dict[str, Any]) -> Result:
    cmd = _optional(ReceiveReturn, body)
    return _read(
        return_service.receive_return(session, store_id=store_id, return_id=params["return_id"], cmd=cmd)
    )


def _inspect(session: Session, store_id: int, body: bytes, params: dict[str, Any]) -> Result:
    cmd = _optional(InspectReturn, body)
    return _read(
        return_service.inspect_return(session, store_id=store_id, return_id=params["return_id"], cmd=cmd)
    )


def _resolve(session: Session, store_id: int, body: bytes, params: dict[str, Any]) -> Result:
    cmd = _optional(ResolveReturn, body)
    return _read(
        return_service.resolve_return(session, store_id=store_id, return_id=params["return_id"], cmd=cmd)
    )


def _retry_refund(session: Session, store_id: int, body: bytes, params: dict[str, Any]) -> Result:
    refund = refund_service.retry_refund(session, store_id=store_id, refund_id=params["refund_id"])
    return Result(refund.public_id, 200, RefundRead.of(refund).model_dump(mode="json"))


def _policy(session: Session, store_id: int, body: bytes, params: dict[str, Any]) -> Result:
    cmd = parse(UpdatePolicy, body)
    policy = return_service.set_policy(session, store_id=store_id, document=cmd.model_dump(mode="json"))
    revision = return_service.get_policy_revision(session, store_id=store_id)
    read = PolicyRead(revision=revision, is_default=False, policy=policy)
    return Result(None, 200, read.model_dump(mode="json"))


def _file_claim(session: Session, store_id: int, body: bytes, params: dict[str, Any]) -> Result:
    cmd = parse(FileClaimForOrder, body)
    inner = FileClaim.model_validate(cmd.model_dump(exclude={"order_id"}))
    claim, milestones = claim_service.file_claim(session, store_id=store_id, order_id=cmd.order_id, cmd=inner)
    return Result(claim.public_id, 201, ClaimRead.of(claim).model_dump(mode="json"), milestones)


def _decide_claim(session: Session, store_id: int, body: bytes, params: dict[str, Any]) -> Result:
    cmd = parse(DecideClaim, body)
    claim, milestones = claim_service.decide_claim(
        session, store_id=store_id, claim_id=params["claim_id"], cmd=cmd
    )
    return Result(claim.public_id, 200, ClaimRead.of(claim).model_dump(mode="json"), milestones)


def _redeem(session: Session, store_id: int, body: bytes, params: dict[str, Any]) -> Result:
    redeemed = credit_service.redeem(session, store_id=store_id, cmd=parse(RedeemCredit, body))
    read = StoreCreditRead.of(redeemed.credit).model_dump(mode="json")
    return Result(redeemed.credit.public_id, 200, read | {"redeemed": redeemed.entry is not None})


TOPICS: dict[str, Handler] = {
    "returns.create": _create,
    "returns.approve": _approve,
    "returns.reject": _reject,
    "returns.label": _label,
    "returns.receive": _receive,
    "returns.inspect": _inspect,
    "returns.resolve": _resolve,
    "returns.refund.retry": _retry_refund,
    "returns.policy.update": _policy,
    "claims.create": _file_claim,
    "claims.decide": _decide_claim,
    "store_credits.redeem": _redeem,
}
