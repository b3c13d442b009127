"""Oversells: channel sales beyond the hub's stock, and their resolution."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from productsync.api.schemas.common import Input, Page, QuantityOut
from productsync.domain.oversells import OversellResolution, OversellStatus


class OversellOut(BaseModel):
    """A channel sale beyond the hub's stock: the sale of what there was is in the ledger
    (``movement_id``); ``quantity`` is what was missing, open until resolved."""

    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    product_id: uuid.UUID
    location_id: uuid.UUID
    channel_id: uuid.UUID | None = Field(description="null for a payment gateway (see `source`).")
    source: str = Field(examples=["channel:5f0c…", "stripe"])
    event_id: str
    order_ref: str | None
    sold: QuantityOut = Field(description="What the channel reported sold.")
    quantity: QuantityOut = Field(description="What the hub did not have.")
    movement_id: int | None = Field(description="The sale's ledger row; its reason names this oversell.")
    status: OversellStatus
    resolution: OversellResolution | None
    note: str | None
    substitute_product_id: uuid.UUID | None
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None


class OversellPage(Page):
    items: list[OversellOut]


class OversellResolveIn(Input):
    resolution: OversellResolution = Field(
        description="restock: the missing quantity is sold now (receive=true receives it first); "
        "cancel: the missing part was cancelled at the channel, nothing moves; "
        "substitute: substitute_product_id went out instead and is sold."
    )
    note: StrictStr | None = Field(default=None, max_length=500)
    substitute_product_id: uuid.UUID | None = None
    receive: StrictBool = Field(default=False, description="restock: the goods just arrived; receive them.")
    lot_number: StrictStr | None = Field(
        default=None, max_length=60, description="restock with receive, lot-tracked products."
    )
    expires_on: date | None = None


class OversellResolvedOut(OversellOut):
    movement_ids: list[int] = Field(description="Ledger rows the resolution wrote (none for cancel).")
