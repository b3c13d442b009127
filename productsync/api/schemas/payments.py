"""Payments reconciliation: the JSON shapes (the CSV columns are the same fields)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from productsync.services.payment_reconciliation import Report, ReportRow


class ReconciliationRowOut(BaseModel):
    status: str = Field(
        description="matched, amount_not_checked, amount_mismatch, payment_without_sale, "
        "refund_without_return, sale_without_payment or return_without_refund"
    )
    detail: str
    kind: str = Field(description="paid or refunded for a payment record; sale or return for a ledger row")
    occurred_at: datetime
    source: str
    payment_ref: str | None
    event_id: str | None
    currency: str | None
    amount_minor: int | None = Field(description="What the gateway took or gave back, in its minor units")
    amount: str | None
    expected_minor: int | None = Field(description="What the price list says, in the same units")
    expected_amount: str | None
    price_list_id: uuid.UUID | None
    sku: str | None
    product_id: uuid.UUID | None
    quantity: str | None
    reservation_id: uuid.UUID | None
    movement_ids: list[int]
    moved_quantity: str | None

    @classmethod
    def of(cls, row: ReportRow) -> ReconciliationRowOut:
        cells = row.cells()
        return cls(
            status=row.status.value,
            detail=row.detail,
            kind=row.kind,
            occurred_at=row.occurred_at,
            source=row.source,
            payment_ref=row.payment_ref,
            event_id=row.event_id,
            currency=row.currency,
            amount_minor=row.amount_minor,
            amount=cells["amount"] or None,
            expected_minor=row.expected_minor,
            expected_amount=cells["expected_amount"] or None,
            price_list_id=row.price_list_id,
            sku=row.sku,
            product_id=row.product_id,
            quantity=cells["quantity"] or None,
            reservation_id=row.reservation_id,
            movement_ids=list(row.movement_ids),
            moved_quantity=cells["moved_quantity"] or None,
        )


class ReconciliationOut(BaseModel):
    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")
    rows: int
    discrepancies: int = Field(description="Rows that need a person (not matched, not merely unchecked)")
    counts: dict[str, int] = Field(description="Rows per status (every status, zeros included)")
    totals: dict[str, dict[str, int]] = Field(description="Per currency: minor units paid and refunded")
    findings: list[ReconciliationRowOut] = Field(description="The rows that are not plain matches")
    findings_truncated: bool

    model_config = {"populate_by_name": True}

    @classmethod
    def of(cls, report: Report) -> ReconciliationOut:
        return cls.model_validate(
            {
                "from": report.window.start,
                "to": report.window.end,
                "rows": report.rows,
                "discrepancies": report.discrepancies,
                "counts": report.counts,
                "totals": report.totals,
                "findings": [ReconciliationRowOut.of(r) for r in report.findings],
                "findings_truncated": report.findings_truncated,
            }
        )
