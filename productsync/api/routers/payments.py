"""Payments against sales: the reconciliation report, as JSON and as a CSV for accounting."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, StreamingResponse

from productsync.api.deps import ActorDep, HubDep
from productsync.api.schemas.common import PROBLEM_RESPONSES
from productsync.api.schemas.payments import ReconciliationOut
from productsync.services import payment_reconciliation as recon

router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES, tags=["payments"])

_FROM = Query(alias="from", max_length=40, description="A date (whole UTC day) or a date-time with offset")
_TO = Query(
    alias="to", max_length=40, description="A date (inclusive) or a date-time with offset (exclusive)"
)
_LIMIT = Query(ge=1, le=recon.FINDINGS_MAX, description="At most this many findings in the answer")


@router.get("/payments/reconciliation", response_model=ReconciliationOut)
async def reconciliation(
    hub: HubDep,
    actor: ActorDep,
    start: Annotated[str | None, _FROM] = None,
    end: Annotated[str | None, _TO] = None,
    limit: Annotated[int, _LIMIT] = recon.FINDINGS_MAX,
) -> JSONResponse:
    """Payment events the hub took (Stripe) against the sale and return movements they
    produced, over a window: counts per status, money totals per currency, and the rows
    that are not plain matches (payment without sale, sale without payment, amount
    differing from the price list, refund without return, return without refund, amount
    not checked). Admin keys see every payment; a partner key its own products' only."""
    window = recon.parse_window(start, end)
    report = await recon.reconcile(hub.db, actor, window, limit=limit)
    body = ReconciliationOut.of(report).model_dump(mode="json", by_alias=True)
    return JSONResponse(body)


@router.get(
    "/payments/reconciliation.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "The rows"}},
)
async def reconciliation_csv(
    hub: HubDep,
    actor: ActorDep,
    start: Annotated[str | None, _FROM] = None,
    end: Annotated[str | None, _TO] = None,
) -> StreamingResponse:
    """The same report for accounting, streamed: one row per payment/sale pair with its
    status (columns: status, detail, kind, occurred_at, source, payment_ref, event_id,
    currency, amount_minor, amount, expected_minor, expected_amount, price_list_id, sku,
    product_id, quantity, reservation_id, movement_ids, moved_quantity)."""
    window = recon.parse_window(start, end)
    chunks = recon.csv_chunks(hub.db, actor, window)
    first = await anext(chunks)  # a refusal (no right, bad window) is an error, not a half file

    async def body() -> AsyncIterator[bytes]:
        yield first
        async for chunk in chunks:
            yield chunk

    name = f"payments-{window.start:%Y%m%d}-{window.end:%Y%m%d}.csv"
    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )
