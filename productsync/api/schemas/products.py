"""Products, their localized texts, bundle components and pack sizes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from productsync.api.schemas.common import Input, Page, QuantityIn, QuantityOut
from productsync.domain.catalog import ProductKind, ProductStatus, TaxClass
from productsync.domain.quantities import BaseUnit


class LocalizedText(Input):
    name: StrictStr | None = Field(default=None, max_length=300)
    description: StrictStr | None = None


class ComponentIn(Input):
    product_id: uuid.UUID
    quantity: QuantityIn = Field(description="Base units of the component in one bundle.")


class ProductIn(Input):
    sku: StrictStr = Field(min_length=1, max_length=64, examples=["COS-NP-001"])
    name: StrictStr = Field(min_length=1, max_length=300)
    category: StrictStr = Field(description="Category code (e.g. `cosmetics`) or id.", examples=["cosmetics"])
    owner_partner_id: uuid.UUID | None = Field(
        default=None, description="Defaults to the key's partner; required for admin keys."
    )
    description: StrictStr = ""
    base_unit: BaseUnit = BaseUnit.PIECE
    barcodes: list[StrictStr] = Field(default_factory=list, max_length=20)
    texts: dict[str, LocalizedText] = Field(default_factory=dict, description="Texts per locale (BCP 47).")
    tax_class: TaxClass = TaxClass.STANDARD
    attributes: dict[str, Any] = Field(default_factory=dict)
    kind: ProductKind = ProductKind.SIMPLE
    components: list[ComponentIn] = Field(
        default_factory=list,
        max_length=20,
        description="A bundle's parts (product, quantity per bundle); components of other partners "
        "must be shared with the bundle's owner.",
    )
    allow_backorders: StrictBool = Field(
        default=False, description="Reservations beyond stock are recorded as backordered (never negative)."
    )
    packs: dict[str, QuantityIn] = Field(
        default_factory=dict, description='Pack sizes in base units, e.g. `{"6-pack": 6}`.', max_length=20
    )


class ProductPatch(Input):
    """SKU, category, owner and base unit are fixed at creation."""

    name: StrictStr | None = Field(default=None, min_length=1, max_length=300)
    description: StrictStr | None = None
    barcodes: list[StrictStr] | None = Field(default=None, max_length=20)
    texts: dict[str, LocalizedText] | None = None
    tax_class: TaxClass | None = None
    attributes: dict[str, Any] | None = None
    allow_backorders: StrictBool | None = None
    packs: dict[str, QuantityIn] | None = Field(default=None, max_length=20)


class ComponentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    product_id: uuid.UUID
    quantity: QuantityOut


class ProductOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    sku: str
    name: str
    description: str
    category_id: uuid.UUID
    owner_partner_id: uuid.UUID
    base_unit: BaseUnit
    barcodes: list[str]
    texts: dict[str, dict[str, str]]
    tax_class: TaxClass
    attributes: dict[str, Any]
    status: ProductStatus
    version: int
    created_at: datetime
    updated_at: datetime
    kind: ProductKind
    components: list[ComponentOut]
    allow_backorders: bool
    packs: dict[str, QuantityOut]


class ProductPage(Page):
    items: list[ProductOut]
