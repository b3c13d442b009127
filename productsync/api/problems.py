"""RFC 9457 problem+json for every error, with a stable ``type`` per error code.

Domain errors map to statuses here and only here; unexpected faults become a
bare 500 with the request id, never a stack trace.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from productsync.domain.errors import (
    Conflict,
    DomainError,
    ErrorCode,
    Forbidden,
    InvalidInput,
    NotFound,
    PreconditionFailed,
)

log = logging.getLogger("productsync.api")

PROBLEM_JSON = "application/problem+json"

_STATUS: list[tuple[type[DomainError], int]] = [
    (NotFound, 404),
    (Forbidden, 403),
    (PreconditionFailed, 412),
    (Conflict, 409),
    (InvalidInput, 422),
]

_HTTP_CODES = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    412: "version-mismatch",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "invalid-input",
    428: "precondition-required",
    429: "too-many-requests",
}


class ApiProblem(Exception):
    """An error decided by the HTTP layer itself (auth, headers, cursors)."""

    def __init__(self, status: int, code: str, detail: str, **data: Any) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.data = status, code, detail, data


# Titles that the default (the code, spaced and capitalized) would get wrong.
_TITLES = {
    "malformed-json": "Malformed JSON",
    "invalid-idempotency-key": "Invalid Idempotency-Key",
    "event-id-required": "Event id required",
    "internal-error": "Internal error",
}


def title_for(code: str) -> str:
    """One title per problem type, wherever the problem is raised."""
    return _TITLES.get(code) or code.replace("-", " ").capitalize()


def problem(
    request: Request | None, status: int, code: str, title: str | None, detail: str, **extra: Any
) -> JSONResponse:
    """A problem+json response. Every body has the same members: ``type``, ``title``,
    ``status``, ``detail``, ``instance`` (the path), ``request_id`` and ``code``, plus
    the error's own data; ``title`` defaults to the one title of its type."""
    rid = getattr(request.state, "request_id", None) if request is not None else None
    body: dict[str, Any] = {
        "type": f"/problems/{code}",
        "title": title or title_for(code),
        "status": status,
        "detail": detail,
        "instance": request.url.path if request is not None else None,
        "request_id": rid,
        "code": code,
    }
    body.update({k: v for k, v in extra.items() if k not in body})
    headers = {"WWW-Authenticate": 'Bearer realm="productsync"'} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


_RESERVED = frozenset({"request", "status", "code", "title", "detail", "type", "instance", "request_id"})


def _extra(data: dict[str, Any]) -> dict[str, Any]:
    """Error details as problem members; the RFC's own members cannot be overridden."""
    return {k: v for k, v in data.items() if k not in _RESERVED}


def status_for(exc: DomainError) -> int:
    if exc.code == ErrorCode.FORBIDDEN:  # whichever class carries it: forbidden is 403, never 409
        return 403
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 422


def _clean_errors(errors: list[Any]) -> list[dict[str, Any]]:
    """Validation details without echoing inputs back (they may hold secrets)."""
    return [
        {"loc": [str(p) for p in e.get("loc", ())], "message": e.get("msg", ""), "type": e.get("type", "")}
        for e in errors
    ]


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        return problem(request, status_for(exc), exc.code.value, exc.title, exc.detail, **_extra(exc.data))

    @app.exception_handler(ApiProblem)
    async def _api(request: Request, exc: ApiProblem) -> JSONResponse:
        return problem(request, exc.status, exc.code, None, exc.detail, **_extra(exc.data))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _clean_errors(list(exc.errors()))
        if any(e["type"] == "json_invalid" for e in errors):
            return problem(
                request, 400, "malformed-json", None, "the request body is not valid JSON", errors=errors
            )
        first = errors[0] if errors else {"loc": [], "message": "invalid request"}
        where = ".".join(x for x in first["loc"] if x not in ("body",)) or "request"
        return problem(
            request,
            422,
            "validation-failed",
            "Validation failed",
            f"{where}: {first['message']}",
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http-error")
        detail = exc.detail if isinstance(exc.detail, str) else code
        if exc.status_code == 400 and detail == "There was an error parsing the body":
            # FastAPI's answer when the parser itself gave up (nesting past its recursion
            # limit, say): still a malformed body, with the same type as any other.
            code, detail = "malformed-json", "the request body could not be parsed as JSON"
        return problem(request, exc.status_code, code, None, detail)

    @app.exception_handler(RecursionError)
    async def _too_deep(request: Request, exc: RecursionError) -> JSONResponse:
        # A body nested past Python's recursion limit, parsed by a handler itself (signed
        # webhooks parse after verifying): the client's input, so a 400, not a fault.
        return problem(request, 400, "malformed-json", None, "JSON nested too deeply to parse")

    @app.exception_handler(Exception)
    async def _fault(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(
            request,
            500,
            "internal-error",
            None,
            "the hub could not complete the request; it is logged under this request id",
        )
