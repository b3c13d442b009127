"""Every domain error has one HTTP status; 'forbidden' is 403 whichever class raises it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from productsync.api.problems import status_for
from productsync.domain.errors import (
    CompareFailed,
    Conflict,
    DomainError,
    ErrorCode,
    Forbidden,
    InsufficientStock,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    StaleChange,
)

PACKAGE = Path(__file__).resolve().parents[2] / "productsync"


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (NotFound("product", "x"), 404),
        (Forbidden("not yours"), 403),
        (InvalidInput("bad"), 422),
        (Conflict("taken"), 409),
        (InsufficientStock("short"), 409),
        (CompareFailed("moved"), 409),
        (StaleChange("old"), 409),
        (PreconditionFailed("stale version"), 412),
        # The code decides for forbidden, even when a Conflict carries it.
        (Conflict("not yours", code=ErrorCode.FORBIDDEN), 403),
        (InvalidInput("not yours", code=ErrorCode.FORBIDDEN), 403),
    ],
)
def test_each_error_maps_to_its_status(error: DomainError, status: int) -> None:
    assert status_for(error) == status


def test_no_code_raises_forbidden_through_another_error_class() -> None:
    """``Conflict(..., code=ErrorCode.FORBIDDEN)`` read as 409 before; raise Forbidden."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            for kw in node.keywords:
                if (
                    kw.arg == "code"
                    and isinstance(kw.value, ast.Attribute)
                    and kw.value.attr == "FORBIDDEN"
                    and not (isinstance(node.func, ast.Name) and node.func.id == "Forbidden")
                ):
                    offenders.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert offenders == []
