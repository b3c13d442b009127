"""Reservations: request lines, holds per location, lifetimes."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from productsync.api.schemas.common import PARTNER_REF, Input, QuantityIn, QuantityOut
from productsync.domain.reservations import ReservationStatus


class ReservationLineIn(Input):
    sku: StrictStr | None = Field(default=None, max_length=64)
    partner: StrictStr | None = Field(default=None, min_length=1, max_length=40, description=PARTNER_REF)
    product_id: uuid.UUID | None = None
    quantity: QuantityIn = Field(description="In `unit` (default: the product's base unit).")
    unit: StrictStr | None = Field(
        default=None, max_length=24, description="Any unit of the same kind as the base unit, or a pack name."
    )
    location_id: uuid.UUID | None = Field(
        default=None,
        description="Hold here only; without it the hub allocates (fewest splits, then most stock).",
    )


class ReservationIn(Input):
    lines: list[ReservationLineIn] = Field(min_length=1, max_length=100)
    ttl_seconds: float | None = Field(
        default=None, allow_inf_nan=False, description="Default 900; at most 7 days."
    )
    channel_id: uuid.UUID | None = Field(
        default=None, description="Allocate from this channel's locations (it must sell every line)."
    )
    external_ref: StrictStr | None = Field(
        default=None,
        max_length=200,
        description="Order or checkout reference (payment webhooks commit by it).",
    )


class ExtendIn(Input):
    ttl_seconds: float = Field(allow_inf_nan=False, description="The hold lives this long from now.")


class CommitIn(Input):
    reason: StrictStr | None = Field(default=None, max_length=500)


class HoldOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    product_id: uuid.UUID
    location_id: uuid.UUID
    quantity: QuantityOut


class ReservationLineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    product_id: uuid.UUID
    sku: str
    quantity: QuantityOut
    location_id: uuid.UUID | None
    backordered: QuantityOut
    holds: list[HoldOut]


class ReservationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    status: ReservationStatus
    expires_at: datetime
    channel_id: uuid.UUID | None
    external_ref: str | None
    lines: list[ReservationLineOut]
    version: int
    created_at: datetime
    updated_at: datetime
