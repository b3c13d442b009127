"""SKUs and GTINs: normalization and validation rules."""

from __future__ import annotations

import re

from stdnum import ean
from stdnum.exceptions import ValidationError as StdnumError

from productsync.domain.errors import ErrorCode, InvalidInput

_SKU_RE = re.compile(r"^[A-Z0-9][A-Z0-9._-]{1,62}[A-Z0-9]$")
_GTIN_LENGTHS = {8: "GTIN-8", 12: "GTIN-12", 13: "GTIN-13", 14: "GTIN-14"}


def normalize_sku(raw: str, *, prefix: str | None = None) -> str:
    """Upper-case and trim a SKU; refuse characters channels cannot carry.

    SKUs travel into file feeds, URLs and routing keys, so only ``A-Z 0-9 . _ -``
    are allowed. When the category has a prefix (``COS-``), the SKU must start
    with it: that keeps partners' SKUs from colliding across categories.
    """
    sku = raw.strip().upper()
    if not _SKU_RE.match(sku):
        raise InvalidInput(
            f"SKU {raw!r} must be 3-64 characters of A-Z, 0-9, '.', '_' or '-'",
            code=ErrorCode.INVALID_SKU,
            sku=raw,
        )
    if prefix and not sku.startswith(prefix):
        raise InvalidInput(
            f"SKU {sku} must start with the category prefix {prefix}",
            code=ErrorCode.INVALID_SKU,
            sku=sku,
            prefix=prefix,
        )
    return sku


def normalize_gtin(raw: str) -> str:
    """Validate a GTIN-8/12/13/14 (check digit included) and return its digits.

    python-stdnum's EAN validator checks the GS1 check digit for all four lengths.
    """
    digits = re.sub(r"[\s-]", "", raw)
    if not digits.isdigit() or len(digits) not in _GTIN_LENGTHS:
        raise InvalidInput(
            f"barcode {raw!r} is not a GTIN-8, -12, -13 or -14",
            code=ErrorCode.INVALID_GTIN,
            barcode=raw,
        )
    try:
        ean.validate(digits)
    except StdnumError as exc:
        raise InvalidInput(
            f"barcode {raw!r} has a wrong check digit",
            code=ErrorCode.INVALID_GTIN,
            barcode=raw,
        ) from exc
    return digits


def gtin14(gtin: str) -> str:
    """The GTIN-14 form used as the uniqueness key: the same item as GTIN-13
    ``4006381333931`` and GTIN-14 ``04006381333931`` must not be two products."""
    return gtin.zfill(14)


_SCHEME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")


def normalize_alias(scheme: str, code: str) -> tuple[str, str]:
    """Another code a product is known by: a scheme (``supplier``, ``warehouse``,
    ``marketplace``, or a named one like ``supplier-acme``) and the code in it, trimmed,
    case kept (suppliers' codes can be case-sensitive)."""
    s = scheme.strip().lower()
    if not _SCHEME_RE.match(s):
        raise InvalidInput(
            f"alias scheme {scheme!r} must be 1-40 characters of a-z, 0-9, '_' or '-', "
            "starting with a letter",
            field="scheme",
        )
    c = code.strip()
    if not c or len(c) > 200 or any(ord(ch) < 32 for ch in c):
        raise InvalidInput("alias code must be 1-200 printable characters", field="code")
    return s, c
