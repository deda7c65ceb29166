"""Store credit as a ledger: every movement is an entry, the balance is their sum, codes are random.

An entry is unique per (credit, reference), so issuing for one return or redeeming for one cart twice
moves money once. A redemption never takes a balance below zero.
"""

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from doorstep.core import clock, ids
from doorstep.core.errors import FieldProblem, Invalid, NotFound
from doorstep.core.tenancy import scoped
from doorstep.returns.commands import RedeemCredit
from doorstep.returns.models import ReturnRequest, StoreCredit, StoreCreditEntry

_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # 32 symbols, no look-alikes


def new_code() -> str:
    """A redemption code: 20 symbols of 5 bits = 100 random bits, shown in groups of four."""
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(20))
    return "-".join(raw[i : i + 4] for i in range(0, 20, 4))


def _normalize(code: str) -> str:
    raw = "".join(ch for ch in code.upper() if ch.isalnum())
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def _entry(
    session: Session, credit: StoreCredit, kind: str, amount: int, reference: str, now: datetime
) -> StoreCreditEntry | None:
    """Append one movement unless its reference is already on this credit; keep the balance equal to the sum."""
    stmt = scoped(select(StoreCreditEntry), StoreCreditEntry, credit.store_id).where(
        StoreCreditEntry.credit_id == credit.id, StoreCreditEntry.reference == reference
    )
    if session.scalars(stmt).one_or_none() is not None:
        return None
    credit.balance_minor += amount
    entry = StoreCreditEntry(
        store_id=credit.store_id, credit_id=credit.id, kind=kind, amount_minor=amount,
        balance_after_minor=credit.balance_minor, reference=reference, created_at=now,
    )  # fmt: skip
    credit.entries.append(entry)
    credit.updated_at = now
    session.flush()
    return entry


def issue_for_return(session: Session, *, request: ReturnRequest, now: datetime) -> int:
    """A new code holding the return's credit (items less fee, plus the bonus as its own entry)."""
    credit = StoreCredit(
        public_id=ids.new_id("sc"), store_id=request.store_id, customer_id=request.customer_id,
        code="", code_last4="", currency=request.currency, balance_minor=0,
    )  # fmt: skip
    credit.code = new_code()
    credit.code_last4 = credit.code[-4:]
    session.add(credit)
    session.flush()
    base = request.credit_minor - request.bonus_minor
    if base > 0:
        _entry(session, credit, "issue", base, f"return:{request.public_id}", now)
    if request.bonus_minor > 0:
        _entry(session, credit, "bonus", request.bonus_minor, f"return:{request.public_id}:bonus", now)
    return credit.id


def get_credit(session: Session, *, store_id: int, credit_id: str) -> StoreCredit:
    stmt = scoped(select(StoreCredit), StoreCredit, store_id).where(StoreCredit.public_id == credit_id)
    found = session.scalars(stmt).one_or_none()
    if found is None:
        raise NotFound(f"store credit {credit_id} not found")
    return found


def get_credit_by_id(session: Session, *, store_id: int, row_id: int) -> StoreCredit | None:
    stmt = scoped(select(StoreCredit), StoreCredit, store_id).where(StoreCredit.id == row_id)
    return session.scalars(stmt).one_or_none()


@dataclass(frozen=True)
class Redeemed:
    credit: StoreCredit
    entry: StoreCreditEntry | None  # None: this reference was already redeemed (nothing moved again)


def redeem(session: Session, *, store_id: int, cmd: RedeemCredit, now: datetime | None = None) -> Redeemed:
    """Spend credit from a code at checkout; the same reference twice is charged once."""
    stmt = (
        scoped(select(StoreCredit), StoreCredit, store_id)
        .where(StoreCredit.code == _normalize(cmd.code))
        .with_for_update()
    )
    credit = session.scalars(stmt).one_or_none()
    if credit is None:
        # One answer for unknown and other stores' codes: nothing to learn by guessing.
        raise NotFound("no store credit has this code; check it for typos")
    reference = f"redeem:{cmd.reference}"
    repeat = scoped(select(StoreCreditEntry), StoreCreditEntry, store_id).where(
        StoreCreditEntry.credit_id == credit.id, StoreCreditEntry.reference == reference
    )
    if session.scalars(repeat).one_or_none() is not None:
        return Redeemed(credit, None)
    if cmd.amount_minor > credit.balance_minor:
        raise Invalid(
            f"amount_minor: {cmd.amount_minor} is more than the {credit.balance_minor} left on this code",
            problems=[FieldProblem(
                "amount_minor", f"exceeds the balance of {credit.balance_minor} {credit.currency}",
                f"send at most {credit.balance_minor}",
            )],
        )  # fmt: skip
    entry = _entry(session, credit, "redeem", -cmd.amount_minor, reference, now or clock.now())
    return Redeemed(credit, entry)
