"""Catalog rules: categories with attribute schemas, products and their patches.

Bundles and categories: a category's attribute schema describes one item of it (a
polish has ingredients, a volume, a PAO), which a kit of several items is not. So a
bundle never has to claim the attributes its category *requires*; what attributes it
does give must still fit the schema, and the category's SKU prefix still applies. The
built-in ``bundles`` category ("Bundles and kits", prefix ``KIT-``) is the neutral home
for kits that span categories or partners (a polish + gin kit); it takes bundles only.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from babel import Locale, UnknownLocaleError
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from productsync.domain.errors import Conflict, ErrorCode, InvalidInput
from productsync.domain.identifiers import gtin14, normalize_gtin, normalize_sku
from productsync.domain.quantities import MAX_QUANTITY, BaseUnit, format_quantity, to_quantity

_CODE_RE = re.compile(r"^[a-z][a-z0-9_-]{1,39}$")
BUNDLE_CATEGORY = "bundles"
_PREFIX_RE = re.compile(r"^[A-Z0-9]{1,8}-$")


class ProductStatus(StrEnum):
    ACTIVE = "active"
    ARCHIVED = "archived"


class ProductKind(StrEnum):
    SIMPLE = "simple"
    BUNDLE = "bundle"


class TaxClass(StrEnum):
    STANDARD = "standard"
    REDUCED = "reduced"
    ZERO = "zero"
    EXEMPT = "exempt"
    ALCOHOL = "alcohol"


@dataclass(frozen=True)
class Partner:
    id: uuid.UUID
    code: str
    name: str
    created_at: datetime


@dataclass(frozen=True)
class Category:
    id: uuid.UUID
    code: str
    name: str
    sku_prefix: str | None
    attribute_schema: dict[str, Any]
    lot_tracked: bool
    created_at: datetime


@dataclass(frozen=True)
class Component:
    """One part of a bundle: so many base units of another product per bundle."""

    product_id: uuid.UUID
    quantity: Decimal


@dataclass(frozen=True)
class Product:
    id: uuid.UUID
    sku: str
    name: str
    description: str
    category_id: uuid.UUID
    owner_partner_id: uuid.UUID
    base_unit: BaseUnit
    barcodes: tuple[str, ...]
    texts: dict[str, dict[str, str]]
    tax_class: TaxClass
    attributes: dict[str, Any]
    status: ProductStatus
    version: int
    created_at: datetime
    updated_at: datetime
    kind: ProductKind = ProductKind.SIMPLE
    components: tuple[Component, ...] = ()
    allow_backorders: bool = False
    # Pack sizes: a name ("6-pack") sold as that many base units.
    packs: dict[str, Decimal] = field(default_factory=dict)

    @property
    def is_bundle(self) -> bool:
        return self.kind is ProductKind.BUNDLE

    def snapshot(self) -> dict[str, Any]:
        """The full state carried by events and audit records (JSON-ready)."""
        return {
            "id": str(self.id),
            "sku": self.sku,
            "name": self.name,
            "description": self.description,
            "category_id": str(self.category_id),
            "owner_partner_id": str(self.owner_partner_id),
            "base_unit": self.base_unit.value,
            "barcodes": list(self.barcodes),
            "texts": self.texts,
            "tax_class": self.tax_class.value,
            "attributes": self.attributes,
            "status": self.status.value,
            "version": self.version,
            "updated_at": self.updated_at.isoformat(),
            "kind": self.kind.value,
            "components": [
                {"product_id": str(c.product_id), "quantity": format_quantity(c.quantity)}
                for c in self.components
            ],
            "allow_backorders": self.allow_backorders,
            "packs": {name: format_quantity(q) for name, q in self.packs.items()},
        }


def check_category_code(code: str) -> str:
    if not _CODE_RE.match(code):
        raise InvalidInput(f"category code {code!r} must be 2-40 lowercase letters, digits, '-' or '_'")
    return code


def check_sku_prefix(prefix: str | None) -> str | None:
    if prefix is None:
        return None
    prefix = prefix.strip().upper()
    if not _PREFIX_RE.match(prefix):
        raise InvalidInput(f"SKU prefix {prefix!r} must be 1-8 letters or digits followed by '-'")
    return prefix


def check_attribute_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A category's schema must itself be valid JSON Schema (2020-12) for an object."""
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise InvalidInput(
            f"attribute schema is not valid JSON Schema: {exc.message}", code=ErrorCode.INVALID_SCHEMA
        ) from exc
    if schema.get("type") != "object":
        raise InvalidInput('attribute schema must have "type": "object"', code=ErrorCode.INVALID_SCHEMA)
    return schema


def schema_for(category: Category, kind: ProductKind) -> dict[str, Any]:
    """The attribute schema a product of this kind answers to: a bundle is not one item
    of its category, so the category's required attributes are not required of it."""
    if kind is ProductKind.BUNDLE:
        return {k: v for k, v in category.attribute_schema.items() if k != "required"}
    return category.attribute_schema


def check_kind(category: Category, kind: ProductKind) -> None:
    """The bundles category holds bundles only (a simple product there would escape
    every attribute rule)."""
    if category.code == BUNDLE_CATEGORY and kind is not ProductKind.BUNDLE:
        raise InvalidInput(
            f"category {BUNDLE_CATEGORY} holds bundles only; give components or another category",
            field="category",
        )


def validate_attributes(schema: dict[str, Any], attributes: dict[str, Any]) -> None:
    """Reject attributes that break the category schema, listing every problem."""
    validator = Draft202012Validator(schema)
    problems = [
        {"path": "/" + "/".join(str(p) for p in err.absolute_path), "message": err.message}
        for err in sorted(validator.iter_errors(attributes), key=lambda e: list(map(str, e.path)))
    ]
    if problems:
        raise InvalidInput(
            f"attributes do not match the category schema: {problems[0]['message']}",
            code=ErrorCode.INVALID_ATTRIBUTES,
            errors=problems,
        )


def normalize_locale(tag: str) -> str:
    """BCP 47 tag (``de-DE``, ``fr``) checked against CLDR, returned in canonical case."""
    try:
        loc = Locale.parse(tag.replace("_", "-"), sep="-")
    except (UnknownLocaleError, ValueError, TypeError) as exc:
        raise InvalidInput(
            f"{tag!r} is not a known locale", code=ErrorCode.INVALID_LOCALE, locale=tag
        ) from exc
    return f"{loc.language}-{loc.territory}" if loc.territory else loc.language


def normalize_texts(texts: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for tag, text in texts.items():
        locale = normalize_locale(tag)
        if locale in out:
            raise InvalidInput(f"locale {locale} is given twice", code=ErrorCode.INVALID_LOCALE)
        out[locale] = {k: v for k, v in text.items() if v is not None}
    return out


def normalize_barcodes(raw: list[str]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for code in raw:
        gtin = normalize_gtin(code)
        key = gtin14(gtin)
        if key in seen:
            raise Conflict(f"barcode {code} is listed twice", code=ErrorCode.DUPLICATE, barcode=code)
        seen[key] = gtin
    return tuple(seen.values())


@dataclass(frozen=True)
class NewProduct:
    """What a caller gives to create a product, before any rule ran."""

    sku: str
    name: str
    category_id: uuid.UUID
    owner_partner_id: uuid.UUID
    base_unit: BaseUnit = BaseUnit.PIECE
    description: str = ""
    barcodes: list[str] = field(default_factory=list)
    texts: dict[str, dict[str, str]] = field(default_factory=dict)
    tax_class: TaxClass = TaxClass.STANDARD
    attributes: dict[str, Any] = field(default_factory=dict)
    kind: ProductKind = ProductKind.SIMPLE
    components: list[Component] = field(default_factory=list)
    allow_backorders: bool = False
    packs: dict[str, Decimal | int | str] = field(default_factory=dict)


_PACK_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
MAX_COMPONENTS = 20


def normalize_packs(raw: dict[str, Decimal | int | str], unit: BaseUnit) -> dict[str, Decimal]:
    """Pack names are lowercase words (``6-pack``, ``case``), each worth a positive
    quantity of the base unit; a pack may not shadow a unit name."""
    out: dict[str, Decimal] = {}
    for name, size in raw.items():
        key = str(name).strip().lower()
        if not _PACK_RE.match(key) or key in {u.value for u in BaseUnit}:
            raise InvalidInput(
                f"pack name {name!r} must be 1-32 lowercase letters, digits, '-' or '_' and not a unit",
                code=ErrorCode.INVALID_UNIT,
                field="packs",
            )
        q = to_quantity(size, unit=unit, field=f"packs.{key}")
        if q <= 0:
            raise InvalidInput(f"pack {key} must hold a positive quantity", field="packs")
        out[key] = q
    return out


def check_components(
    components: list[Component], *, own_id: uuid.UUID | None = None
) -> tuple[Component, ...]:
    """A bundle has 1..20 distinct components, each a positive whole quantity."""
    if not components:
        raise InvalidInput("a bundle needs at least one component", field="components")
    if len(components) > MAX_COMPONENTS:
        raise InvalidInput(f"a bundle has at most {MAX_COMPONENTS} components", field="components")
    seen: set[uuid.UUID] = set()
    for c in components:
        if c.product_id in seen or c.product_id == own_id:
            raise InvalidInput(f"component {c.product_id} is listed twice", field="components")
        seen.add(c.product_id)
        if c.quantity <= 0 or c.quantity > MAX_QUANTITY:
            raise InvalidInput("a component quantity must be positive", field="components")
    return tuple(components)


def create_product(new: NewProduct, category: Category, *, now: datetime) -> Product:
    """Apply every catalog rule to a new product; raises before anything is written."""
    name = new.name.strip()
    if not name:
        raise InvalidInput("name must not be empty", field="name")
    check_kind(category, new.kind)
    validate_attributes(schema_for(category, new.kind), new.attributes)
    if new.kind is ProductKind.BUNDLE and new.base_unit is not BaseUnit.PIECE:
        raise InvalidInput("a bundle is counted in pieces", field="base_unit")
    return Product(
        id=uuid.uuid4(),
        sku=normalize_sku(new.sku, prefix=category.sku_prefix),
        name=name,
        description=new.description,
        category_id=category.id,
        owner_partner_id=new.owner_partner_id,
        base_unit=new.base_unit,
        barcodes=normalize_barcodes(new.barcodes),
        texts=normalize_texts(new.texts),
        tax_class=new.tax_class,
        attributes=new.attributes,
        status=ProductStatus.ACTIVE,
        version=1,
        created_at=now,
        updated_at=now,
        kind=new.kind,
        components=check_components(new.components)
        if new.kind is ProductKind.BUNDLE
        else _no_components(new),
        allow_backorders=new.allow_backorders and new.kind is ProductKind.SIMPLE,
        packs=normalize_packs(new.packs, new.base_unit),
    )


def _no_components(new: NewProduct) -> tuple[Component, ...]:
    if new.components:
        raise InvalidInput("only a bundle has components", field="components")
    return ()


PATCHABLE = frozenset(
    {"name", "description", "barcodes", "texts", "tax_class", "attributes", "allow_backorders", "packs"}
)


def patch_product(product: Product, changes: dict[str, Any], category: Category, *, now: datetime) -> Product:
    """Apply a partial update. SKU, category, owner and base unit never change: channels
    map on the SKU, moving a product between owners is a share, not an edit, and a new
    base unit would silently reinterpret every quantity already in the ledger."""
    unknown = set(changes) - PATCHABLE
    if unknown:
        raise InvalidInput(f"fields {sorted(unknown)} cannot be changed", fields=sorted(unknown))
    if product.status is ProductStatus.ARCHIVED:
        raise Conflict(f"product {product.sku} is archived", code=ErrorCode.ARCHIVED)
    changes = dict(changes)
    if "description" in changes and changes["description"] is None:
        changes["description"] = ""  # clearing a description means an empty one
    nulls = sorted(k for k, v in changes.items() if v is None)
    if nulls:
        raise InvalidInput(f"{nulls[0]} cannot be null", fields=nulls)
    values: dict[str, Any] = {}
    if "name" in changes:
        name = str(changes["name"]).strip()
        if not name:
            raise InvalidInput("name must not be empty", field="name")
        values["name"] = name
    if "description" in changes:
        values["description"] = changes["description"]
    if "barcodes" in changes:
        values["barcodes"] = normalize_barcodes(changes["barcodes"])
    if "texts" in changes:
        values["texts"] = normalize_texts(changes["texts"])
    if "tax_class" in changes:
        values["tax_class"] = TaxClass(changes["tax_class"])
    if "attributes" in changes:
        validate_attributes(schema_for(category, product.kind), changes["attributes"])
        values["attributes"] = changes["attributes"]
    if "allow_backorders" in changes:
        values["allow_backorders"] = bool(changes["allow_backorders"]) and not product.is_bundle
    if "packs" in changes:
        values["packs"] = normalize_packs(changes["packs"], product.base_unit)
    return replace(product, **values, version=product.version + 1, updated_at=now)


def archive_product(product: Product, *, now: datetime) -> Product:
    """Archiving keeps history and mappings intact; a hard delete would orphan ledger rows."""
    if product.status is ProductStatus.ARCHIVED:
        return product
    return replace(product, status=ProductStatus.ARCHIVED, version=product.version + 1, updated_at=now)


def default_categories() -> list[dict[str, Any]]:
    """The built-in categories every hub starts with."""
    return [
        {
            "code": "cosmetics",
            "name": "Cosmetics",
            "sku_prefix": "COS-",
            "lot_tracked": True,
            "attribute_schema": {
                "type": "object",
                "required": ["ingredients", "volume_ml", "pao_months"],
                "properties": {
                    "ingredients": {
                        "type": "array",
                        "items": {"type": "string", "minLength": 1},
                        "minItems": 1,
                    },
                    "volume_ml": {"type": "number", "exclusiveMinimum": 0},
                    "pao_months": {"type": "integer", "minimum": 1, "maximum": 60},
                    "shade": {"type": "string"},
                    "finish": {"type": "string", "enum": ["gloss", "matte", "satin", "shimmer"]},
                    "vegan": {"type": "boolean"},
                },
                "additionalProperties": False,
            },
        },
        {
            "code": "alcohol",
            "name": "Alcoholic beverages",
            "sku_prefix": "ALC-",
            "lot_tracked": False,
            "attribute_schema": {
                "type": "object",
                "required": ["abv", "volume_ml", "age_restricted"],
                "properties": {
                    "abv": {"type": "number", "minimum": 0, "maximum": 100},
                    "volume_ml": {"type": "number", "exclusiveMinimum": 0},
                    "age_restricted": {"type": "boolean"},
                    "min_age": {"type": "integer", "minimum": 16, "maximum": 25},
                    "origin": {"type": "string"},
                    "style": {"type": "string"},
                },
                "additionalProperties": False,
            },
        },
        {
            "code": BUNDLE_CATEGORY,
            "name": "Bundles and kits",
            "sku_prefix": "KIT-",
            "lot_tracked": False,
            "attribute_schema": {
                "type": "object",
                "properties": {
                    "theme": {"type": "string", "minLength": 1},
                    "gift_wrapped": {"type": "boolean"},
                },
                "additionalProperties": False,
            },
        },
        {
            "code": "sports",
            "name": "Sports equipment",
            "sku_prefix": "SE-",
            "lot_tracked": False,
            "attribute_schema": {
                "type": "object",
                "required": ["size", "material"],
                "properties": {
                    "size": {"type": "string", "minLength": 1},
                    "material": {"type": "string", "minLength": 1},
                    "color": {"type": "string"},
                    "weight_g": {"type": "number", "exclusiveMinimum": 0},
                    "sport": {"type": "string"},
                },
                "additionalProperties": False,
            },
        },
    ]
