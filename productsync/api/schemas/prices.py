"""Price lists, tier sets and resolved prices (amounts travel as decimal strings)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictStr

from productsync.api.schemas.common import AmountIn, AmountOut, Input, QuantityIn, QuantityOut
from productsync.domain.pricing import PriceEntry, PriceListKind


class PriceListIn(Input):
    name: StrictStr = Field(min_length=1, max_length=200)
    currency: StrictStr = Field(min_length=3, max_length=3, examples=["EUR"])
    kind: PriceListKind = PriceListKind.RETAIL
    region: StrictStr | None = Field(default=None, max_length=40)
    owner_partner_id: uuid.UUID | None = None


class PriceListOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    name: str
    owner_partner_id: uuid.UUID | None
    currency: str
    kind: PriceListKind
    region: str | None


class PriceEntryIn(Input):
    amount: AmountIn = Field(description='Unit price as a decimal string, e.g. "12.90".', examples=["12.90"])
    min_quantity: QuantityIn = Field(default=Decimal(1), description="Tier: applies from this quantity on.")
    valid_from: AwareDatetime | None = None
    valid_to: AwareDatetime | None = None

    def entry(self) -> PriceEntry:
        return PriceEntry(self.min_quantity, self.amount, self.valid_from, self.valid_to)


class PricesIn(Input):
    prices: list[PriceEntryIn] = Field(
        max_length=200, description="The full tier set; replaces the current one."
    )


class PriceEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    amount: AmountOut
    min_quantity: QuantityOut
    valid_from: datetime | None
    valid_to: datetime | None


class PricesOut(BaseModel):
    price_list_id: uuid.UUID
    product_id: uuid.UUID
    sku: str
    currency: str
    version: int
    prices: list[PriceEntryOut]


class ResolvedPriceOut(BaseModel):
    product_id: uuid.UUID
    sku: str
    price_list_id: uuid.UUID
    currency: str
    quantity: QuantityOut
    at: datetime
    unit_amount: AmountOut
    total: AmountOut
    tier_min_quantity: QuantityOut
    promotion: bool
    regular_unit_amount: AmountOut | None
