"""Small HTTP helpers: cursors and conditional requests."""

from __future__ import annotations

import base64
import binascii

from productsync.api.problems import ApiProblem


def encode_cursor(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        value = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ApiProblem(400, "invalid-cursor", "the cursor is not one this API handed out") from exc
    if not value or not value.isprintable():
        raise ApiProblem(400, "invalid-cursor", "the cursor is not one this API handed out")
    return value


def etag(version: int) -> str:
    return f'"{version}"'


def parse_if_match(header: str | None) -> int | None:
    """The version an If-Match names; None when absent or ``*`` (any version).

    An unparseable value cannot match any version, so it yields -1 and the
    write fails with 412 rather than silently ignoring the precondition.
    """
    if header is None or header.strip() == "*":
        return None
    first = header.split(",")[0].strip()
    if first.startswith("W/"):
        first = first[2:]
    first = first.strip('"')
    return int(first) if first.isdigit() else -1
