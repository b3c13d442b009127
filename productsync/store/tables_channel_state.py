"""Tables: what the hub knows each storefront channel holds (last quantity per external id).

Kept out of ``tables.py`` (one module per area); registered on the same ``metadata``,
which ``tables.py`` imports at its end so Alembic and the schema tests see them.

``channel_quantities`` is the compare-and-set value of a Shopify stock push: the
``changeFromQuantity`` of the next ``inventorySetQuantities`` is the ``quantity`` stored
here after the previous one succeeded (or after the channel's quantity was read).
``pending_*`` is a push sent but not yet confirmed (written before the call, cleared with
the next ``quantity``): a process that dies between the shop's answer and the write leaves
it behind, and the next push asks the shop about it (an idempotent replay under its key)
instead of taking its effect for a change at the shop.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Integer, String, Table, Uuid

from productsync.store.tables import metadata
from productsync.store.types import UTCDateTime

channel_quantities = Table(
    "channel_quantities",
    metadata,
    Column("channel_id", Uuid, ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True),
    Column("external_id", String(255), primary_key=True),
    Column("quantity", Integer, nullable=False),
    Column("event_id", String(100), nullable=True),  # the hub event whose push set it (None: read)
    Column("updated_at", UTCDateTime, nullable=False),
    Column("pending_key", String(400), nullable=True),  # idempotency key of the unconfirmed push
    Column("pending_from", Integer, nullable=True),  # its changeFromQuantity
    Column("pending_quantity", Integer, nullable=True),  # its quantity
    Column("pending_at", UTCDateTime, nullable=True),  # when it was noted (before it was sent)
)
