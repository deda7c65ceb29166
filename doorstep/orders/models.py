from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from doorstep.customers.models import Customer
from doorstep.db import Base, Timestamped


class Order(Timestamped, Base):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("store_id", "external_id"),
        Index("ix_orders_store_id_number", "store_id", "number"),
        Index("ix_orders_store_id_created_at_id", "store_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    external_id: Mapped[str | None] = mapped_column(String(100))
    number: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(32), default="api")
    placed_at: Mapped[datetime]
    cancelled_at: Mapped[datetime | None]
    cancel_reason: Mapped[str | None] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    subtotal_minor: Mapped[int] = mapped_column(BigInteger)
    shipping_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    tax_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    discount_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    total_minor: Mapped[int] = mapped_column(BigInteger)
    # Sum of recorded refunds; never more than total_minor (orders.service.record_refund).
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    shipping_address: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    note: Mapped[str | None] = mapped_column(String(5000))
    # Random token for the shopper's order-status link (/t/{token}); never the id.
    status_token: Mapped[str] = mapped_column(String(64), unique=True)
    # How often shoppers open the tracking page (one UPDATE per view; analytics read it later).
    tracking_page_visits: Mapped[int] = mapped_column(default=0, server_default="0")
    tracking_page_last_visit_at: Mapped[datetime | None]

    customer: Mapped[Customer | None] = relationship(lazy="joined")
    line_items: Mapped[list["LineItem"]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="LineItem.position", lazy="selectin"
    )


class LineItem(Timestamped, Base):
    __tablename__ = "line_items"
    __table_args__ = (
        UniqueConstraint("order_id", "external_id"),
        # Recommendations: which orders hold a product (co-purchases, best sellers).
        Index("ix_line_items_store_id_product_id", "store_id", "product_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    external_id: Mapped[str | None] = mapped_column(String(100))
    product_id: Mapped[str | None] = mapped_column(String(100))
    variant_id: Mapped[str | None] = mapped_column(String(100))
    sku: Mapped[str | None] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(500))
    variant_title: Mapped[str | None] = mapped_column(String(500))
    quantity: Mapped[int]
    unit_price_minor: Mapped[int] = mapped_column(BigInteger)
    discount_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    image_url: Mapped[str | None] = mapped_column(String(2000))
    product_tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    is_final_sale: Mapped[bool] = mapped_column(default=False)
    # Who ships this item (catalog seller), when the platform says so (marketplaces such as Olist).
    seller_id: Mapped[int | None] = mapped_column(ForeignKey("sellers.id", ondelete="SET NULL"))

    order: Mapped[Order] = relationship(back_populates="line_items")


class OrderRefund(Timestamped, Base):
    """Money returned to the shopper for an order, once per platform refund id."""

    __tablename__ = "order_refunds"
    __table_args__ = (UniqueConstraint("order_id", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str] = mapped_column(String(100))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    processed_at: Mapped[datetime]
    # [{"line_external_id": ..., "quantity": ..., "restock_type": ...}] as the platform sent them.
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class OrderPayment(Timestamped, Base):
    """One payment towards an order (method, instalments, amount), once per platform sequence."""

    __tablename__ = "order_payments"
    __table_args__ = (UniqueConstraint("order_id", "sequence"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    sequence: Mapped[int]
    method: Mapped[str] = mapped_column(String(40))
    installments: Mapped[int] = mapped_column(default=1)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    reference: Mapped[str | None] = mapped_column(String(200))
