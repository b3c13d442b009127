"""Webhooks from payment gateways and storefront platforms. Authenticated by the
sender's signature, not by an API key."""

from __future__ import annotations

import json
import uuid
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

import stripe
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from productsync.api.deps import HubDep
from productsync.api.problems import ApiProblem
from productsync.api.schemas.common import PROBLEM_RESPONSES
from productsync.domain import shopify
from productsync.domain.access import system_actor
from productsync.domain.channels import ChannelKind
from productsync.domain.errors import DomainError, NotFound
from productsync.services import inbound, payment_records, payments
from productsync.store.uow import UnitOfWork, transaction


def _json_object(payload: bytes) -> dict[str, Any]:
    """A signed body, parsed only after its signature verified."""
    try:
        parsed: Any = json.loads(payload)
    except ValueError as exc:
        raise ApiProblem(400, "malformed-json", "the request body is not valid JSON") from exc
    if not isinstance(parsed, dict):
        raise ApiProblem(400, "malformed-json", "the body must be a JSON object")
    return parsed


def _ascii_header(request: Request, name: str) -> str | None:
    """A signature header, or None when absent or not ASCII: a signature is hex or base64,
    and comparing non-ASCII text in constant time raises instead of answering no."""
    value = request.headers.get(name)
    return value if value is not None and value.isascii() else None


def _utf8(payload: bytes) -> bytes:
    """Signatures are computed over the text of the body; a body that is not UTF-8 text
    cannot have been signed by the sender (and the Stripe library would choke on it)."""
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiProblem(400, "malformed-json", "the request body is not UTF-8 text") from exc
    return payload


# The platform's ids and references end up in columns of these sizes.
WEBHOOK_ID_MAX = 200
REFERENCE_MAX = 200

router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES, tags=["payments"])


@router.post("/webhooks/stripe")
async def stripe_webhook(request: Request, hub: HubDep) -> JSONResponse:
    """Stripe events, verified against `Stripe-Signature` exactly as Stripe documents it
    (HMAC-SHA256 of `timestamp.payload` with the endpoint secret, any `v1` signature,
    timestamp within the tolerance). A wrong or missing signature is 400 and changes
    nothing; each event id is applied once (a redelivery gets the first answer)."""
    settings = hub.settings
    if not settings.stripe_webhook_secret:
        raise ApiProblem(404, "not-found", "the Stripe endpoint is not configured on this hub")
    payload = _utf8(await request.body())
    try:
        stripe.WebhookSignature.verify_header(
            payload,
            _ascii_header(request, "stripe-signature"),
            settings.stripe_webhook_secret,
            tolerance=settings.stripe_tolerance_seconds,
        )
    except stripe.SignatureVerificationError as exc:
        reason = str(exc).split(".")[0][:200]
        raise ApiProblem(400, "bad-signature", f"Stripe-Signature does not verify: {reason}") from exc
    event = _json_object(payload)

    async def use_case(uow: UnitOfWork) -> payments.InboundResult:
        return await payments.record_event(uow, event, price_list_id=settings.stripe_price_list_id)

    try:
        result = await transaction(hub.db, use_case)
    except DomainError as exc:
        refused = exc

        async def keep_refusal(uow: UnitOfWork) -> bool:
            # Money was taken and no sale recorded: kept for the payments reconciliation.
            return await payment_records.note_refusal(uow, event, refused)

        with suppress(DomainError):  # the refusal is the answer, even if its record cannot be kept
            await transaction(hub.db, keep_refusal)
        raise
    return JSONResponse(result.body, status_code=result.status_code)


@router.post("/webhooks/shopify/{channel_id}", tags=["inbound"])
async def shopify_webhook(channel_id: uuid.UUID, request: Request, hub: HubDep) -> JSONResponse:
    """A Shopify store's order and refund webhooks for one Shopify channel, verified by
    `X-Shopify-Hmac-Sha256` (base64 HMAC-SHA256 of the raw body with the channel's
    `webhook_secret` credential; 401 when it does not verify). `orders/create` and
    `orders/paid` record sales of the mapped variants, `refunds/create` returns; all lines
    of one webhook or none. A redelivered webhook (same `X-Shopify-Webhook-Id`) gets the
    first answer; each order line (and refund line) counts once whichever topic brings
    it, so a store subscribed to both order topics does not sell an order twice."""
    payload = await request.body()
    found = await transaction(hub.db, lambda uow: inbound.webhook_channel(uow, channel_id), readonly=True)
    if found is None or found[0].kind is not ChannelKind.SHOPIFY or not found[1].get("webhook_secret"):
        raise NotFound("channel", channel_id)
    channel, creds = found
    if not shopify.verify_hmac(
        creds["webhook_secret"], payload, _ascii_header(request, "x-shopify-hmac-sha256")
    ):
        raise ApiProblem(401, "bad-signature", "X-Shopify-Hmac-Sha256 does not verify")
    webhook_id = request.headers.get("x-shopify-webhook-id") or request.headers.get("x-shopify-event-id")
    if not webhook_id:
        raise ApiProblem(422, "event-id-required", "X-Shopify-Webhook-Id is missing")
    if len(webhook_id) > WEBHOOK_ID_MAX:
        raise ApiProblem(422, "invalid-input", f"X-Shopify-Webhook-Id is longer than {WEBHOOK_ID_MAX}")
    topic = request.headers.get("x-shopify-topic", "")
    body = _json_object(payload)
    lines = shopify.stock_lines(topic, body)
    if lines is None:
        return JSONResponse({"event_id": webhook_id, "outcome": "ignored", "topic": topic})
    at = datetime.now(UTC)
    # The order a paid order's oversell names; the topic and reference are the ledger's reason.
    reference = str(body.get("order_id") or body.get("id") or webhook_id)[:REFERENCE_MAX]
    changes = [
        inbound.InboundChange(
            event_id=line.key,
            type=line.type,
            changed_at=at,
            external_id=line.variant_id,
            quantity=line.quantity,
            reason=f"shopify {topic[:60]} {reference}",
            order_ref=reference,
        )
        for line in lines
    ]
    actor = system_actor(f"channel:{channel.id}")

    async def use_case(uow: UnitOfWork) -> inbound.InboundResult:
        return await inbound.receive_batch(uow, actor, channel.id, webhook_id, changes)

    result = await transaction(hub.db, use_case)
    return JSONResponse(result.body, status_code=result.status_code)
