"""Returns, their items and refunds, store credit, and package-protection claims."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from doorstep.db import Base, Timestamped
from doorstep.orders.models import LineItem, Order


class ReturnPolicyRecord(Timestamped, Base):
    """A store's return policy document (validated by ``returns.policy.ReturnPolicy``)."""

    __tablename__ = "return_policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), unique=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Bumped on every change, so a merchant's PUT based on an old version can be refused.
    revision: Mapped[int] = mapped_column(default=1)


class ReturnRequest(Timestamped, Base):
    """A shopper's return of some items of one order, through its lifecycle (returns.lifecycle)."""

    __tablename__ = "returns"
    __table_args__ = (
        UniqueConstraint("store_id", "idempotency_key"),
        UniqueConstraint("store_id", "rma"),
        Index("ix_returns_store_id_created_at_id", "store_id", "created_at", "id"),
        Index("ix_returns_store_id_status", "store_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    # The shopper's link (/r/{token}): random, never the id.
    token: Mapped[str] = mapped_column(String(64), unique=True)
    # Short code printed on the label and shown at drop-off ("RMA"), unique per store.
    rma: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="requested")
    resolution: Mapped[str] = mapped_column(String(20))  # refund | store_credit | exchange | keep
    method: Mapped[str] = mapped_column(String(20))  # label | qr_dropoff | in_store | none
    outcome: Mapped[str | None] = mapped_column(String(20))  # refunded | credited | exchanged | kept
    source: Mapped[str] = mapped_column(String(20), default="portal")  # portal | api
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    # Hash of the request's content: the same form sent twice finds the open return it created.
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    items_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    fee_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    bonus_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    exchange_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    refund_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    credit_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    charge_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    is_keep_it: Mapped[bool] = mapped_column(default=False)
    # The breakdown shown to the shopper when they confirmed (policy.Quote as JSON).
    quote: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    comment: Mapped[str | None] = mapped_column(String(2000))
    merchant_note: Mapped[str | None] = mapped_column(String(2000))
    rejected_reason: Mapped[str | None] = mapped_column(String(40))
    rejected_message: Mapped[str | None] = mapped_column(String(1000))
    return_shipment_id: Mapped[int | None] = mapped_column(ForeignKey("shipments.id", ondelete="SET NULL"))
    exchange_order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"))
    store_credit_id: Mapped[int | None] = mapped_column(ForeignKey("store_credits.id", ondelete="SET NULL"))
    requested_at: Mapped[datetime]
    approved_at: Mapped[datetime | None]
    label_issued_at: Mapped[datetime | None]
    in_transit_at: Mapped[datetime | None]
    received_at: Mapped[datetime | None]
    inspected_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    rejected_at: Mapped[datetime | None]

    order: Mapped[Order] = relationship(foreign_keys=[order_id], lazy="joined")
    items: Mapped[list["ReturnItem"]] = relationship(
        back_populates="return_request",
        cascade="all, delete-orphan",
        order_by="ReturnItem.id",
        lazy="selectin",
    )


class ReturnItem(Base):
    __tablename__ = "return_items"
    __table_args__ = (UniqueConstraint("return_id", "line_item_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("returns.id", ondelete="CASCADE"), index=True)
    line_item_id: Mapped[int] = mapped_column(ForeignKey("line_items.id", ondelete="CASCADE"), index=True)
    quantity: Mapped[int]
    reason: Mapped[str] = mapped_column(String(32))
    comment: Mapped[str | None] = mapped_column(String(1000))
    # References to uploaded evidence (the portal stores the files; ids or paths, never raw bytes).
    photos: Mapped[list[str]] = mapped_column(JSON, default=list)
    value_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    is_keep_it: Mapped[bool] = mapped_column(default=False)
    exchange_variant_id: Mapped[str | None] = mapped_column(String(100))
    exchange_title: Mapped[str | None] = mapped_column(String(500))  # "Merino Tee / L", for display
    exchange_variant_title: Mapped[str | None] = mapped_column(String(500))  # "L", for the replacement order
    exchange_unit_price_minor: Mapped[int | None] = mapped_column(BigInteger)
    # Inspection: how many units passed, and the merchant's words.
    accepted_quantity: Mapped[int | None]
    inspection_note: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime]

    return_request: Mapped[ReturnRequest] = relationship(back_populates="items")
    line_item: Mapped[LineItem] = relationship(lazy="joined")


class ReturnRefund(Timestamped, Base):
    """Money a return sends back through the store's platform: an outbox row, sent by the worker.

    ``pending`` rows are picked up by the ``returns.refunds`` job, which calls the platform (Shopify's
    refund API or a signed webhook) and records the answer; a success becomes an ``order_refunds`` row.
    """

    __tablename__ = "return_refunds"
    __table_args__ = (Index("ix_return_refunds_status_next_attempt_at", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    # One refund per return; claims' refunds have no return (the claim points here instead).
    return_id: Mapped[int | None] = mapped_column(ForeignKey("returns.id", ondelete="CASCADE"), unique=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    channel: Mapped[str] = mapped_column(String(20))  # shopify | webhook | manual
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | succeeded | failed
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    external_id: Mapped[str | None] = mapped_column(String(100))
    last_error: Mapped[str | None] = mapped_column(String(2000))
    # [{"line_external_id", "quantity"}]: what the platform is asked to refund and restock.
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    succeeded_at: Mapped[datetime | None]


class StoreCredit(Timestamped, Base):
    """A store-credit balance behind one redemption code (random, 100+ bits: unguessable).

    The code is kept readable because the shopper's return page shows it; merchant API reads show only
    its last four characters.
    """

    __tablename__ = "store_credits"
    __table_args__ = (UniqueConstraint("store_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    code: Mapped[str] = mapped_column(String(64))
    code_last4: Mapped[str] = mapped_column(String(4))
    currency: Mapped[str] = mapped_column(String(3))
    # Sum of its ledger entries, kept with the entries in one transaction.
    balance_minor: Mapped[int] = mapped_column(BigInteger, default=0)

    entries: Mapped[list["StoreCreditEntry"]] = relationship(
        cascade="all, delete-orphan", order_by="StoreCreditEntry.id", lazy="selectin"
    )


class StoreCreditEntry(Base):
    """One movement of store credit: issue (+), redeem (-), reverse. Unique per (credit, reference)."""

    __tablename__ = "store_credit_entries"
    __table_args__ = (UniqueConstraint("credit_id", "reference"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    credit_id: Mapped[int] = mapped_column(ForeignKey("store_credits.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # issue | bonus | redeem | reverse
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    balance_after_minor: Mapped[int] = mapped_column(BigInteger)
    reference: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]


class Claim(Timestamped, Base):
    """A package-protection claim on one parcel: lost, damaged, stolen or wrong item."""

    __tablename__ = "claims"
    __table_args__ = (
        UniqueConstraint("store_id", "idempotency_key"),
        Index("ix_claims_store_id_created_at_id", "store_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id", ondelete="CASCADE"), index=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(20))  # lost | damaged | stolen | wrong_item
    status: Mapped[str] = mapped_column(String(20), default="filed")  # filed | approved | rejected | resolved
    preferred_resolution: Mapped[str] = mapped_column(String(20))  # reship | refund
    resolution: Mapped[str | None] = mapped_column(String(20))
    description: Mapped[str | None] = mapped_column(String(2000))
    evidence: Mapped[list[str]] = mapped_column(JSON, default=list)
    # [{"line_item_id": "li_…", "quantity": n}]; the whole parcel when filed without items.
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    is_auto_approved: Mapped[bool] = mapped_column(default=False)
    decided_reason: Mapped[str | None] = mapped_column(String(1000))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    replacement_order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"))
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("return_refunds.id", ondelete="SET NULL"))
    filed_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]

    order: Mapped[Order] = relationship(foreign_keys=[order_id], lazy="joined")


# Added by returns-portal (please keep; returns-domain owns migration 0010: include this table there).
# The portal's photo uploads (return items' `photos`, claims' `evidence`) are rows here, referenced by
# public_id (`pho_…`). Bytes live in the database so every web process behind one PostgreSQL sees them;
# written only by returns.photos.save_photo, after the bytes were sniffed and size-checked.
class EvidencePhoto(Base):
    """A photo a shopper uploaded as evidence for a return or a claim (JPEG, PNG or WebP, checked)."""

    __tablename__ = "evidence_photos"
    __table_args__ = (UniqueConstraint("order_id", "sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    content_type: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int]
    width: Mapped[int]
    height: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
