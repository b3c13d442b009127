"""Inbound changes from channels and the conflicts they raise."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from productsync.api.schemas.common import PARTNER_REF, AmountIn, Input, QuantityIn
from productsync.domain.conflicts import InboundType, Resolution


class InboundIn(Input):
    event_id: StrictStr | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="The channel's id for this change; taken once (or give an Idempotency-Key header).",
    )
    type: InboundType = Field(description="sale and return are stock deltas; stock_count is absolute.")
    external_id: StrictStr | None = Field(default=None, min_length=1, max_length=200)
    external_sku: StrictStr | None = Field(
        default=None, min_length=1, max_length=200, description="The channel's SKU, as mapped."
    )
    alias: StrictStr | None = Field(
        default=None, min_length=3, max_length=250, description="A product alias, `scheme:code`."
    )
    sku: StrictStr | None = Field(default=None, min_length=1, max_length=64)
    partner: StrictStr | None = Field(default=None, min_length=1, max_length=40, description=PARTNER_REF)
    product_id: uuid.UUID | None = None
    location_id: uuid.UUID | None = None
    quantity: QuantityIn | None = Field(
        default=None, description="Positive for deltas; the count for stock_count."
    )
    price: AmountIn | None = Field(
        default=None, description="The new unit price on the channel's price list."
    )
    fields: dict[StrictStr, Any] | None = Field(
        default=None, description="Content edits: name, description, texts, attributes."
    )
    based_on_version: int | None = Field(default=None, ge=0, le=2**31 - 1)
    based_on_quantity: QuantityIn | None = Field(
        default=None, description="For merge: the quantity the channel saw before its count."
    )
    changed_at: datetime | None = Field(default=None, description="UTC; default: when the hub receives it.")
    reason: StrictStr | None = Field(default=None, max_length=500)
    order_ref: StrictStr | None = Field(
        default=None,
        max_length=255,
        description="The channel's order, named on an oversell if stock was short.",
    )


class InboundOut(BaseModel):
    event_id: str
    channel_id: uuid.UUID
    outcome: str = Field(description="applied, kept_hub (the channel is corrected), queued, rejected")
    product_id: uuid.UUID | None = None
    sku: str | None = None
    reason: str | None = None
    conflict_id: uuid.UUID | None = None
    replayed: bool = False
    oversold: str | None = Field(
        default=None, description="A sale beyond stock: what the hub lacked (the rest is sold)."
    )
    oversell_id: uuid.UUID | None = Field(default=None, description="Its oversell (`GET /v1/oversells`).")
    model_config = ConfigDict(extra="allow")


class ConflictOut(BaseModel):
    id: uuid.UUID
    channel_id: uuid.UUID
    product_id: uuid.UUID | None
    kind: str
    change: dict[str, Any]
    hub_value: Any
    hub_version: int
    status: str
    resolution: str | None
    resolved_value: Any
    created_at: datetime
    resolved_at: datetime | None


class ConflictPage(BaseModel):
    items: list[ConflictOut]
    next_cursor: str | None


class ResolveIn(Input):
    resolution: Resolution
    value: Any = Field(default=None, description="For custom: the stock level, price or fields to write.")
    product_id: uuid.UUID | None = Field(
        default=None,
        description="For a change with an unmapped external id: the product it meant (mapped now).",
    )
