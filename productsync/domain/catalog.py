"""Catalog rules: categories with attribute schemas, products and their patches."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from babel import Locale, UnknownLocaleError
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from productsync.domain.errors import Conflict, ErrorCode, InvalidInput
from productsync.domain.identifiers import gtin14, normalize_gtin, normalize_sku
from productsync.domain.quantities import BaseUnit

_CODE_RE = re.compile(r"^[a-z][a-z0-9_-]{1,39}$")
_PREFIX_RE = re.compile(r"^[A-Z0-9]{1,8}-$")


class ProductStatus(StrEnum):
    ACTIVE = "active"
    ARCHIVED = "archived"


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


def create_product(new: NewProduct, category: Category, *, now: datetime) -> Product:
    """Apply every catalog rule to a new product; raises before anything is written."""
    name = new.name.strip()
    if not name:
        raise InvalidInput("name must not be empty", field="name")
    validate_attributes(category.attribute_schema, new.attributes)
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
    )


PATCHABLE = frozenset({"name", "description", "barcodes", "texts", "tax_class", "attributes"})


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
        validate_attributes(category.attribute_schema, changes["attributes"])
        values["attributes"] = changes["attributes"]
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
