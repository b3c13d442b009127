"""Tables: what the hub knows each storefront channel holds (last quantity per external id).

Kept out of ``tables.py`` (one module per area); registered on the same ``metadata``,
which ``tables.py`` imports at its end so Alembic and the schema tests see them.

``channel_quantities`` is the compare-and-set value of a Shopify stock push: the
``changeFromQuantity`` of the next ``inventorySetQuantities`` is the ``quantity`` stored
here after the previous one succeeded (or after the channel's quantity was read).
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
)
