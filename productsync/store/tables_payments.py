"""Tables: payment records for payments-against-sales reconciliation.

Kept out of ``tables.py`` (one module per area); registered on the same ``metadata``,
which ``tables.py`` imports at its end so Alembic and the schema tests see them.

``payment_records`` holds what accounting needs of each payment event the hub took
(one row per gateway event, written in the transaction of the sale or return it
produced, or on its own when the event produced none); ``payment_movements`` links a
record to the ledger rows it produced, so "a sale from the payment source with no
payment" is one anti-join, not a scan of JSON.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    UniqueConstraint,
    Uuid,
)

from productsync.store.tables import metadata
from productsync.store.types import ExactDecimal, Quantity, UTCDateTime

payment_records = Table(
    "payment_records",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("source", String(80), nullable=False),
    Column("event_id", String(255), nullable=False),
    # The payment the event belongs to (payment intent, else the session or charge id):
    # a refund finds its payment by it.
    Column("payment_ref", String(255), nullable=False),
    Column("kind", String(16), nullable=False),  # paid | refunded
    Column("outcome", String(16), nullable=False),  # applied | ignored | refused
    Column("amount_minor", BigInteger, nullable=True),
    Column("currency", String(3), nullable=True),
    Column("product_id", Uuid, nullable=True),
    Column("sku", String(64), nullable=True),
    Column("quantity", Quantity, nullable=True),
    Column("reservation_id", Uuid, nullable=True),
    # Whose money it is: the product's owner (or the one owner of all a reservation's
    # lines); None when several partners' goods share one payment: admins only.
    Column("owner_partner_id", Uuid, nullable=True),
    Column("price_list_id", Uuid, nullable=True),
    Column("price_currency", String(3), nullable=True),  # the price list's currency
    Column("unit_amount", ExactDecimal, nullable=True),
    Column("expected_minor", BigInteger, nullable=True),
    # Why the amount could not be checked (no price list, no price in force ...).
    Column("check_note", String(300), nullable=True),
    Column("error", String(500), nullable=True),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    UniqueConstraint("source", "event_id", name="uq_payment_records_source_event"),
    CheckConstraint("kind IN ('paid', 'refunded')", name="kind_known"),
    CheckConstraint("outcome IN ('applied', 'ignored', 'refused')", name="outcome_known"),
    Index("ix_payment_records_occurred", "occurred_at", "id"),
    Index("ix_payment_records_payment", "payment_ref"),
)

payment_movements = Table(
    "payment_movements",
    metadata,
    Column("movement_id", BigInteger, primary_key=True),  # a ledger row belongs to one payment event
    Column("payment_record_id", Uuid, ForeignKey("payment_records.id"), nullable=False, index=True),
)
