"""Payments against sales on both databases: Stripe events taken as the webhook takes them
(signed, verified, recorded; a refused one kept), then the report names each pair."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import stripe
from sqlalchemy import func, select

from productsync.domain.access import system_actor
from productsync.domain.errors import DomainError, Forbidden, InvalidInput
from productsync.domain.inventory import MovementKind
from productsync.domain.payment_reconciliation import CSV_COLUMNS, Status
from productsync.domain.pricing import PriceEntry, PriceListKind
from productsync.services import payment_reconciliation as recon
from productsync.services import payment_records, payments, pricing, reservations, stock
from productsync.services.reservations import LineRequest
from productsync.store.tables_payments import payment_records as records_table
from productsync.store.uow import transaction
from tests.conftest import ref

D = Decimal
SECRET = "whsec_integration_payments"


def _signed(event: dict[str, Any]) -> tuple[bytes, str]:
    payload = json.dumps(event).encode()
    t = int(time.time())
    signature = hmac.new(SECRET.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return payload, f"t={t},v1={signature}"


async def _take(database, event: dict[str, Any], *, price_list_id=None) -> int | str:  # type: ignore[no-untyped-def]
    """What POST /v1/webhooks/stripe does: verify the signature, take the event in one
    transaction, and keep a refused one in another. The status, or the refusal's code."""
    payload, header = _signed(event)
    stripe.WebhookSignature.verify_header(payload, header, SECRET, tolerance=300)
    parsed = json.loads(payload)
    try:
        result = await transaction(
            database, lambda uow: payments.record_event(uow, parsed, price_list_id=price_list_id)
        )
    except DomainError as exc:
        refused = exc
        await transaction(database, lambda uow: payment_records.note_refusal(uow, parsed, refused))
        return exc.code.value
    return result.status_code


def _event(kind: str, obj: dict[str, Any], *, created: int | None = None) -> dict[str, Any]:
    return {"id": ref("evt_"), "type": kind, "created": created or int(time.time()), "data": {"object": obj}}


def _paid(world, payment: str, quantity: int, amount: int, *, meta=None, currency="eur"):  # type: ignore[no-untyped-def]
    metadata = {"sku": world.product.sku, "quantity": str(quantity), "location_id": str(world.loc_a.id)}
    return _event(
        "payment_intent.succeeded",
        {
            "id": payment,
            "object": "payment_intent",
            "amount": amount,
            "amount_received": amount,
            "currency": currency,
            "metadata": {**metadata, **(meta or {})},
        },
    )


def _refund(world, payment: str, quantity: int, refunded_so_far: int, *, sku=True):  # type: ignore[no-untyped-def]
    metadata = {"sku": world.product.sku, "quantity": str(quantity)} if sku else {}
    return _event(
        "charge.refunded",
        {
            "id": ref("ch_"),
            "object": "charge",
            "payment_intent": payment,
            "amount": 99999,
            "amount_refunded": refunded_so_far,
            "currency": "eur",
            "metadata": metadata,
        },
    )


@pytest.fixture
async def priced(database, world):  # type: ignore[no-untyped-def]
    """Partner A's EUR list: 10.00 a unit (9.00 from 10 units); 20 units in A's store."""
    admin = system_actor("test")

    async def build(uow):  # type: ignore[no-untyped-def]
        pl = await pricing.create_price_list(
            uow,
            admin,
            name="A retail",
            currency="EUR",
            kind=PriceListKind.RETAIL,
            region=None,
            owner_partner_id=world.a.id,
        )
        entries = [PriceEntry(D(1), D("10.00")), PriceEntry(D(10), D("9.00"))]
        await pricing.put_prices(uow, admin, pl.id, world.product.id, entries)
        await stock.set_stock(
            uow, admin, location_id=world.loc_a.id, product_id=world.product.id, quantity=D(20)
        )
        return pl

    return await transaction(database, build)


def _window() -> recon.Window:
    now = datetime.now(UTC)
    return recon.Window(now - timedelta(hours=1), now + timedelta(hours=1))


async def _rows(database, actor, window=None) -> list[recon.ReportRow]:  # type: ignore[no-untyped-def]
    return [row async for row in recon.report_rows(database, actor, window or _window(), page=3)]


async def test_the_report_names_each_payment_and_sale_pair_exactly(database, world, priced) -> None:  # type: ignore[no-untyped-def]
    pl = priced.id
    admin = system_actor("test")
    stripe_ledger = system_actor("stripe")
    pays = {
        name: ref(f"pi_{name}_") for name in ("ok", "short", "unpriced", "nosku", "released", "held", "gone")
    }
    # Paid right: 2 x 10.00 on the list the metadata names.
    assert await _take(database, _paid(world, pays["ok"], 2, 2000, meta={"price_list_id": str(pl)})) == 200
    # Paid 9.00 for one 10.00 unit, the list coming from the hub's setting.
    assert await _take(database, _paid(world, pays["short"], 1, 900), price_list_id=pl) == 200
    # No price list anywhere: the goods moved, the amount is not checked.
    assert await _take(database, _paid(world, pays["unpriced"], 1, 123)) == 200
    # Money taken for an event without a SKU: ignored, so no sale.
    nosku = _paid(world, pays["nosku"], 1, 1000)
    nosku["data"]["object"]["metadata"] = {}
    assert await _take(database, nosku, price_list_id=pl) == 200

    # A checkout's hold released before its payment came: the payment is refused, kept.
    async def hold(uow, external_ref):  # type: ignore[no-untyped-def]
        return await reservations.reserve(
            uow,
            admin,
            [LineRequest(D(2), product_id=world.product.id, location_id=world.loc_a.id)],
            ttl_seconds=600,
            external_ref=external_ref,
        )

    released = await transaction(database, lambda uow: hold(uow, ref("order-")))
    await transaction(database, lambda uow: reservations.release(uow, admin, released.id))
    gone = _paid(world, pays["released"], 2, 2000, meta={"reservation_id": str(released.id)})
    assert await _take(database, gone, price_list_id=pl) == "reservation-closed"
    assert (
        await _take(database, gone, price_list_id=pl) == "reservation-closed"
    )  # Stripe retries: still one record
    # A held checkout paid: its reservation's sale rows are the payment's.
    held = await transaction(database, lambda uow: hold(uow, ref("order-")))
    paid_hold = _paid(world, pays["held"], 2, 2000, meta={"reservation_id": str(held.id)})
    assert await _take(database, paid_hold, price_list_id=pl) == 200
    assert await _take(database, paid_hold, price_list_id=pl) == 200  # a redelivery: replayed, no record
    # A payment for a SKU the hub does not know: refused (404), kept.
    unknown = _paid(world, pays["gone"], 1, 1000, meta={"sku": ref("NOPE-")})
    assert await _take(database, unknown) == "not-found"
    # Refunds of the right payment: one unit, then another (Stripe's running total).
    assert await _take(database, _refund(world, pays["ok"], 1, 1000)) == 200
    assert await _take(database, _refund(world, pays["ok"], 1, 2000)) == 200
    # A refund that says nothing of the goods: no return.
    assert await _take(database, _refund(world, pays["short"], 1, 900, sku=False)) == 200
    # Ledger rows written by the payment source that no payment claims.
    sold = await transaction(
        database,
        lambda uow: stock.adjust_stock(
            uow,
            stripe_ledger,
            location_id=world.loc_a.id,
            product_id=world.product.id,
            delta=D(-1),
            kind=MovementKind.SALE,
            reason="stripe sale from before the payment records",
        ),
    )
    returned = await transaction(
        database,
        lambda uow: stock.adjust_stock(
            uow,
            stripe_ledger,
            location_id=world.loc_a.id,
            product_id=world.product.id,
            delta=D(1),
            kind=MovementKind.RETURN,
            reason="stripe refund from before the payment records",
        ),
    )

    mine = set(pays.values())
    rows = [
        r
        for r in await _rows(database, admin)
        if r.payment_ref in mine or set(r.movement_ids) & {sold.movement_id, returned.movement_id}
    ]
    got = sorted((r.kind, r.payment_ref or f"m{r.movement_ids[0]}", r.status.value) for r in rows)
    assert got == sorted(
        [
            ("paid", pays["ok"], "matched"),
            ("paid", pays["short"], "amount_mismatch"),
            ("paid", pays["unpriced"], "amount_not_checked"),
            ("paid", pays["nosku"], "payment_without_sale"),
            ("paid", pays["released"], "payment_without_sale"),
            ("paid", pays["held"], "matched"),
            ("paid", pays["gone"], "payment_without_sale"),
            ("refunded", pays["ok"], "matched"),
            ("refunded", pays["ok"], "matched"),
            ("refunded", pays["short"], "refund_without_return"),
            ("sale", f"m{sold.movement_id}", "sale_without_payment"),
            ("return", f"m{returned.movement_id}", "return_without_refund"),
        ]
    )
    by = {(r.kind, r.payment_ref): r for r in rows}
    short = by[("paid", pays["short"])]
    assert (short.amount_minor, short.expected_minor, short.price_list_id) == (900, 1000, pl)
    assert "paid 900, expected 1000 (-100)" in short.detail
    assert by[("paid", pays["unpriced"])].detail == "no price list named"
    assert (
        "reservation" in by[("paid", pays["released"])].detail
        and "refused" in by[("paid", pays["released"])].detail
    )
    assert by[("paid", pays["nosku"])].detail == "the event was ignored: no sku in metadata"
    held_row = by[("paid", pays["held"])]
    assert held_row.reservation_id == held.id and len(held_row.movement_ids) == 1
    assert held_row.moved_quantity == D(-2) and held_row.expected_minor == 2000
    refunds = [r for r in rows if r.kind == "refunded" and r.payment_ref == pays["ok"]]
    assert sorted(r.amount_minor or 0 for r in refunds) == [1000, 1000]  # the running total, split
    assert all(r.moved_quantity == D(1) for r in refunds)

    # The summary counts what the rows say; totals per currency.
    report = await recon.reconcile(database, admin, _window())
    for status in Status:
        assert report.counts[status.value] >= sum(1 for r in rows if r.status is status)
    assert report.discrepancies >= 7 and report.totals["EUR"]["paid"] >= 2000 + 900 + 123 + 2000
    # Partner A sees its own product's pairs (not the ignored and refused ones: goods unknown).
    seen_by_a = {(r.kind, r.payment_ref, r.status.value) for r in await _rows(database, world.actor_a)}
    assert ("paid", pays["short"], "amount_mismatch") in seen_by_a
    assert not any(ref_ in {pays["nosku"], pays["gone"], pays["released"]} for _, ref_, _ in seen_by_a)
    assert {r.payment_ref for r in await _rows(database, world.actor_c)}.isdisjoint(mine)
    assert {r.payment_ref for r in await _rows(database, world.actor_b)}.isdisjoint(
        mine
    )  # shared is not theirs

    # The CSV: the documented columns, one row per pair, amounts in both forms.
    text = b"".join([c async for c in recon.csv_chunks(database, admin, _window())]).decode()
    reader = csv.DictReader(io.StringIO(text))
    assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
    lines = [line for line in reader if line["payment_ref"] in mine]
    assert len(lines) == 10
    [line] = [x for x in lines if x["payment_ref"] == pays["short"] and x["kind"] == "paid"]
    assert (line["status"], line["amount"], line["expected_amount"], line["currency"]) == (
        "amount_mismatch",
        "9.00",
        "10.00",
        "EUR",
    )
    assert line["quantity"] == "1" and line["moved_quantity"] == "-1" and line["sku"] == world.product.sku

    # One record per event, whatever the redeliveries.
    counted = await transaction(
        database,
        lambda uow: uow.payments.conn.execute(
            select(func.count()).select_from(records_table).where(records_table.c.payment_ref.in_(mine))
        ),
        readonly=True,
    )
    assert counted.scalar_one() == 10


async def test_a_refused_payment_taken_later_replaces_its_refusal(database, world, priced) -> None:  # type: ignore[no-untyped-def]
    """Stripe retries a refused event; once the hub can take it, it is a plain matched pair."""
    payment = ref("pi_")
    event = _paid(
        world, payment, 1, 1000, meta={"price_list_id": str(priced.id), "location_id": "not-a-uuid"}
    )
    assert await _take(database, event) == "invalid-input"
    [row] = [r for r in await _rows(database, system_actor("test")) if r.payment_ref == payment]
    assert row.status is Status.PAYMENT_WITHOUT_SALE and "invalid-input" in row.detail
    event["data"]["object"]["metadata"]["location_id"] = str(world.loc_a.id)
    assert await _take(database, event) == 200
    [row] = [r for r in await _rows(database, system_actor("test")) if r.payment_ref == payment]
    assert row.status is Status.MATCHED and len(row.movement_ids) == 1


async def test_a_payment_in_another_currency_than_its_price_list_is_a_mismatch(
    database, world, priced
) -> None:  # type: ignore[no-untyped-def]
    payment = ref("pi_")
    assert (
        await _take(database, _paid(world, payment, 1, 1000, currency="usd"), price_list_id=priced.id) == 200
    )
    [row] = [r for r in await _rows(database, world.actor_a) if r.payment_ref == payment]
    assert row.status is Status.AMOUNT_MISMATCH and "paid in USD, the price list is in EUR" in row.detail


async def test_the_window_counts_payments_by_their_time_and_refuses_bad_bounds(
    database, world, priced
) -> None:  # type: ignore[no-untyped-def]
    payment = ref("pi_")
    last_year = int((datetime.now(UTC) - timedelta(days=365)).timestamp())
    event = _paid(world, payment, 1, 1000)
    event["created"] = last_year
    assert await _take(database, event) == 200
    assert payment not in {r.payment_ref for r in await _rows(database, world.actor_a)}
    day = datetime.fromtimestamp(last_year, UTC).date().isoformat()
    window = recon.parse_window(day, day)
    assert payment in {r.payment_ref for r in await _rows(database, world.actor_a, window)}
    for bad in (
        ("2026-13-01", day),
        (day, "yesterday"),
        ("2026-11-23T10:00:00", day),
        ("2026-11-24", "2026-11-23"),
        (None, day),
    ):
        with pytest.raises(InvalidInput):
            recon.parse_window(*bad)


async def test_a_key_without_a_partner_or_read_scope_gets_no_report(database, world) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    nobody = replace(world.actor_a, partner_id=None)
    with pytest.raises(Forbidden):
        await _rows(database, nobody)
    no_read = replace(world.actor_a, scopes=frozenset())
    with pytest.raises(Forbidden):
        await _rows(database, no_read)


async def test_a_second_event_paying_a_committed_reservation_is_a_payment_without_sale(
    database, world, priced
) -> None:  # type: ignore[no-untyped-def]
    """A shop subscribed to both payment topics: the hold is sold once, the second event
    shows up as money with no sale of its own, naming why."""
    admin = system_actor("test")
    held = await transaction(
        database,
        lambda uow: reservations.reserve(
            uow,
            admin,
            [LineRequest(D(3), product_id=world.product.id, location_id=world.loc_a.id)],
            ttl_seconds=600,
        ),
    )
    payment = ref("pi_")
    intent = _paid(
        world, payment, 3, 3000, meta={"reservation_id": str(held.id), "price_list_id": str(priced.id)}
    )
    session = _event(
        "checkout.session.completed",
        {
            "id": ref("cs_"),
            "payment_intent": payment,
            "amount_total": 3000,
            "currency": "eur",
            "metadata": {"reservation_id": str(held.id), "price_list_id": str(priced.id)},
        },
    )
    assert await _take(database, intent) == 200
    assert await _take(database, session) == 200
    rows = sorted(
        (r for r in await _rows(database, world.actor_a) if r.payment_ref == payment), key=lambda r: r.status
    )
    assert [(r.status, r.expected_minor) for r in rows] == [
        (Status.MATCHED, 3000),
        (Status.PAYMENT_WITHOUT_SALE, 3000),
    ]
    assert "already committed" in rows[1].detail and rows[0].moved_quantity == D(-3)
