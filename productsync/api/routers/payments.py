"""Payment gateway webhooks. Authenticated by the gateway's signature, not by an API key."""

from __future__ import annotations

import json
from typing import Any

import stripe
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from productsync.api.deps import HubDep
from productsync.api.problems import ApiProblem
from productsync.api.schemas import PROBLEM_RESPONSES
from productsync.services import payments
from productsync.store.uow import UnitOfWork, transaction

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
    payload = await request.body()
    try:
        stripe.WebhookSignature.verify_header(
            payload,
            request.headers.get("stripe-signature"),
            settings.stripe_webhook_secret,
            tolerance=settings.stripe_tolerance_seconds,
        )
    except stripe.SignatureVerificationError as exc:
        reason = str(exc).split(".")[0][:200]
        raise ApiProblem(400, "bad-signature", f"Stripe-Signature does not verify: {reason}") from exc
    try:
        event: Any = json.loads(payload)
    except ValueError as exc:
        raise ApiProblem(400, "malformed-json", "the request body is not valid JSON") from exc
    if not isinstance(event, dict):
        raise ApiProblem(400, "malformed-json", "the event must be a JSON object")

    async def use_case(uow: UnitOfWork) -> payments.InboundResult:
        return await payments.record_event(uow, event)

    result = await transaction(hub.db, use_case)
    return JSONResponse(result.body, status_code=result.status_code)
