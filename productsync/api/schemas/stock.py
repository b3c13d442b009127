"""Locations and stock: levels, adjustments, transfers, returns, lots and count accuracy."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from productsync.api.schemas.common import PARTNER_REF, Input, QuantityIn, QuantityOut
from productsync.domain.inventory import LocationKind, MovementKind, StockLevel
from productsync.domain.lots import Lot
from productsync.domain.quantities import BaseUnit


class LocationIn(Input):
    code: StrictStr = Field(min_length=2, max_length=40, examples=["WH-BERLIN"])
    name: StrictStr = Field(min_length=1, max_length=200)
    kind: LocationKind = LocationKind.WAREHOUSE
    owner_partner_id: uuid.UUID | None = Field(
        default=None,
        description="Defaults to the key's partner; admins may leave it empty for a hub-wide location.",
    )
    time_zone: StrictStr = Field(
        default="UTC",
        max_length=64,
        examples=["Europe/Berlin"],
        description="IANA time zone; lots stocked here expire at the end of their expiry date in it.",
    )


class LocationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    code: str
    name: str
    kind: LocationKind
    owner_partner_id: uuid.UUID | None
    time_zone: str


class StockTarget(Input):
    sku: StrictStr | None = Field(default=None, max_length=64)
    partner: StrictStr | None = Field(default=None, min_length=1, max_length=40, description=PARTNER_REF)
    product_id: uuid.UUID | None = None
    location_id: uuid.UUID


class AdjustmentIn(StockTarget):
    delta: QuantityIn = Field(description="Signed change in `unit` (default: the product's base unit).")
    unit: StrictStr | None = Field(
        default=None, max_length=24, description="Any unit of the same kind as the base unit, or a pack name."
    )
    reason: StrictStr | None = Field(default=None, max_length=500)
    lot_number: StrictStr | None = Field(
        default=None, max_length=60, description="Required on receipts of lot-tracked categories (cosmetics)."
    )
    expires_on: date | None = Field(default=None, description="The lot's expiry date (with lot_number).")
    kind: Literal["adjustment", "receipt", "sale", "return"] = Field(
        default="adjustment", description="A return linked to its sale goes to `POST /v1/stock/returns`."
    )


class SetIn(StockTarget):
    quantity: QuantityIn
    compare_quantity: QuantityIn | None = Field(
        default=None, description="Only set if on_hand still equals this (compare-and-set); else 409."
    )
    safety_stock: QuantityIn | None = None
    reason: StrictStr | None = Field(default=None, max_length=500)


class TransferIn(Input):
    sku: StrictStr | None = Field(default=None, max_length=64)
    partner: StrictStr | None = Field(default=None, min_length=1, max_length=40, description=PARTNER_REF)
    product_id: uuid.UUID | None = None
    from_location_id: uuid.UUID
    to_location_id: uuid.UUID
    quantity: QuantityIn
    unit: StrictStr | None = Field(default=None, max_length=24)
    reason: StrictStr | None = Field(default=None, max_length=500)


class ReturnIn(Input):
    sale_movement_id: int = Field(ge=1, le=2**62, description="The ledger id of the sale being returned.")
    quantity: QuantityIn
    unit: StrictStr | None = Field(default=None, max_length=24)
    restockable: StrictBool = Field(description="False: recorded and written off at once (damaged, opened).")
    reason: StrictStr = Field(min_length=1, max_length=500)


class AccuracyOut(BaseModel):
    """Cycle-count accuracy: counts that found what the hub expected, out of all counts."""

    location_id: uuid.UUID | None
    counts: int
    matched: int
    accuracy_percent: float | None = Field(description="one decimal; null before the first count")
    open_oversells: int = Field(
        default=0, description="Channel sales the hub had no stock for, open (`GET /v1/oversells`)."
    )
    oversold_quantity: QuantityOut = Field(default=Decimal(0), description="What those oversells lack.")


class LotOut(BaseModel):
    id: uuid.UUID
    product_id: uuid.UUID
    location_id: uuid.UUID
    lot_number: str
    expires_on: date
    quantity: QuantityOut
    reserved: QuantityOut
    expires_at: datetime = Field(
        description="When it stops being usable: the end of expires_on at its location (its time zone)."
    )
    days_left: int = Field(description="Whole days after today there: 0 on the expiry date, below 0 expired.")
    expired: bool

    @classmethod
    def of(cls, lot: Lot, now: datetime) -> LotOut:
        """Written out: ``days_left`` and ``expired`` depend on the moment asked about."""
        return cls(
            id=lot.id,
            product_id=lot.product_id,
            location_id=lot.location_id,
            lot_number=lot.lot_number,
            expires_on=lot.expires_on,
            quantity=lot.quantity,
            reserved=lot.reserved,
            expires_at=lot.expires_at,
            days_left=lot.days_left(now),
            expired=lot.expired(now),
        )


class LevelOut(BaseModel):
    location_id: uuid.UUID
    location_code: str
    on_hand: QuantityOut
    reserved: QuantityOut
    safety_stock: QuantityOut
    available: QuantityOut
    version: int

    @classmethod
    def of(cls, level: StockLevel, code: str) -> LevelOut:
        """Written out: the location's code is not part of the level."""
        return cls(
            location_id=level.location_id,
            location_code=code,
            on_hand=level.on_hand,
            reserved=level.reserved,
            safety_stock=level.safety_stock,
            available=level.available,
            version=level.version,
        )


class TotalsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    on_hand: QuantityOut
    reserved: QuantityOut
    safety_stock: QuantityOut
    available: QuantityOut


class StockOut(BaseModel):
    product_id: uuid.UUID
    sku: str
    base_unit: BaseUnit
    locations: list[LevelOut]
    totals: TotalsOut
    derived: bool = Field(
        default=False,
        description="A bundle: whole bundles its components make (per location; totals as channels "
        "count them), reserved = held back by the components' holds and safety stock.",
    )


class TransferOut(BaseModel):
    transfer_id: uuid.UUID
    product_id: uuid.UUID
    sku: str
    quantity: QuantityOut
    source: LevelOut
    destination: LevelOut


class ReturnOut(BaseModel):
    product_id: uuid.UUID
    sku: str
    sale_movement_id: int
    movement_id: int | None
    quantity: QuantityOut
    restockable: bool
    level: LevelOut


class StockChangeOut(BaseModel):
    product_id: uuid.UUID
    sku: str
    movement_id: int | None
    kind: MovementKind
    quantity: QuantityOut
    level: LevelOut
