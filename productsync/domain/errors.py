"""Domain errors.

Every error carries a stable ``code`` (a string enum) and structured data, so the
API can turn it into problem+json and clients can branch on the code::

    DomainError
    ├── NotFound               entity invisible to the caller or absent (404)
    ├── Forbidden              visible but not writable by the caller (403)
    ├── InvalidInput           a rule rejected the input (422)
    ├── Conflict               the state does not allow it (409)
    │   ├── InsufficientStock  the change would make stock negative
    │   └── CompareFailed      compare-and-set saw another value
    └── PreconditionFailed     If-Match version is stale (412)
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    NOT_FOUND = "not-found"
    FORBIDDEN = "forbidden"
    INVALID_INPUT = "invalid-input"
    INVALID_SKU = "invalid-sku"
    INVALID_GTIN = "invalid-gtin"
    INVALID_ATTRIBUTES = "invalid-attributes"
    INVALID_CURRENCY = "invalid-currency"
    INVALID_QUANTITY = "invalid-quantity"
    INVALID_UNIT = "invalid-unit"
    INVALID_LOCALE = "invalid-locale"
    INVALID_SCHEMA = "invalid-schema"
    DUPLICATE = "duplicate"
    INSUFFICIENT_STOCK = "insufficient-stock"
    COMPARE_FAILED = "compare-failed"
    VERSION_MISMATCH = "version-mismatch"
    ARCHIVED = "archived"
    NO_PRICE = "no-price"
    STALE_CHANGE = "stale-change"
    UNKNOWN_EXTERNAL_ID = "unknown-external-id"
    BAD_SIGNATURE = "bad-signature"
    RESERVATION_EXPIRED = "reservation-expired"
    RESERVATION_CLOSED = "reservation-closed"
    BUNDLE_STOCK = "bundle-stock"
    OVERSELL_RESOLVED = "oversell-resolved"
    TARGET_NOT_ALLOWED = "target-not-allowed"  # a channel URL or its address fails the SSRF guard
    AMBIGUOUS_SKU = "ambiguous-sku"  # a SKU several visible partners use: name product_id or partner
    AMBIGUOUS_ALIAS = "ambiguous-alias"  # an alias several visible partners use: name partner


class DomainError(Exception):
    code: ErrorCode = ErrorCode.INVALID_INPUT
    title: str = "Invalid input"

    def __init__(self, detail: str, *, code: ErrorCode | None = None, **data: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.data = data


class NotFound(DomainError):
    code = ErrorCode.NOT_FOUND
    title = "Not found"

    def __init__(self, entity: str, ref: object) -> None:
        super().__init__(f"{entity} {ref} was not found", entity=entity, ref=str(ref))


class Forbidden(DomainError):
    code = ErrorCode.FORBIDDEN
    title = "Forbidden"


class InvalidInput(DomainError):
    code = ErrorCode.INVALID_INPUT
    title = "Invalid input"


class Conflict(DomainError):
    code = ErrorCode.DUPLICATE
    title = "Conflict"


class InsufficientStock(Conflict):
    code = ErrorCode.INSUFFICIENT_STOCK
    title = "Insufficient stock"


class CompareFailed(Conflict):
    code = ErrorCode.COMPARE_FAILED
    title = "Compare-and-set failed"


class StaleChange(Conflict):
    code = ErrorCode.STALE_CHANGE
    title = "Stale change"


class PreconditionFailed(DomainError):
    code = ErrorCode.VERSION_MISMATCH
    title = "Precondition failed"
