"""What each channel may sell of a product."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field

from productsync.api.schemas.common import QuantityOut
from productsync.api.schemas.stock import LevelOut


class AvailabilityOut(BaseModel):
    product_id: uuid.UUID
    sku: str
    channel_id: uuid.UUID
    available: QuantityOut = Field(
        description="What the channel may sell: its locations minus its buffer, >= 0."
    )
    locations: list[LevelOut] = Field(description="The levels that count for this channel.")


class AvailabilityPage(BaseModel):
    items: list[AvailabilityOut]
