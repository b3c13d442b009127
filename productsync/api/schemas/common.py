"""Shapes every resource shares: problem details, strict inputs, pages and quantities.

Input types are strict where JSON is ambiguous: a boolean is not a number, a
timestamp must carry its offset, quantities are exact decimals. On the way out a
quantity is a JSON number (an integer when whole), an amount a decimal string.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

from productsync.domain.quantities import format_quantity


def _decimal_in(value: Any) -> Any:
    """JSON numbers or numeric strings; never booleans (Python's True == 1)."""
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    if isinstance(value, float) and value != value:
        raise ValueError("must be a finite number")
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return value.strip()
    raise ValueError("must be a number or a numeric string")


def _quantity_out(q: Decimal) -> int | float:
    return int(q) if q == q.to_integral_value() else float(format_quantity(q))


QuantityIn = Annotated[Decimal, BeforeValidator(_decimal_in), Field(allow_inf_nan=False)]
AmountIn = Annotated[Decimal, BeforeValidator(_decimal_in), Field(allow_inf_nan=False)]
QuantityOut = Annotated[Decimal, PlainSerializer(_quantity_out, return_type=int | float)]
AmountOut = Annotated[Decimal, PlainSerializer(lambda d: str(d), return_type=str)]


class Problem(BaseModel):
    """RFC 9457 problem details; extra members carry the error's data."""

    model_config = ConfigDict(extra="allow")
    type: str = Field(examples=["/problems/insufficient-stock"])
    title: str
    status: int
    detail: str
    code: str
    instance: str | None = None
    request_id: str | None = None


_PROBLEM_CONTENT = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": text, "content": _PROBLEM_CONTENT}
    for status, text in (
        (400, "Malformed JSON, header or cursor"),
        (401, "Missing, unknown or revoked API key"),
        (403, "Readable but not writable, or the key lacks a scope"),
        (404, "Absent, or invisible to this key"),
        (409, "The current state does not allow the change"),
        (412, "If-Match names a stale version"),
        (413, "Body too large"),
        (415, "Body is not JSON"),
        (422, "Invalid input"),
    )
}


# The ``partner`` member of requests that may name a product by SKU (domain/sku_namespaces.py).
PARTNER_REF = (
    "Whose `sku`, as a partner code. SKUs are unique per partner: name it when several partners "
    "you can see use the SKU (else 409 `ambiguous-sku` lists them); a partner key writing stock "
    "means its own product without it."
)


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Page(BaseModel):
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")
