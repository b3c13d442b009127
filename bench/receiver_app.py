"""A fast webhook receiver for benchmarks (its own process, so the load generator and the
hub do not share its CPU). Records, per accepted delivery, the event's commit-side time
and when it arrived; ``GET /stats`` hands the records over, ``POST /reset`` clears them.

    python bench/receiver_app.py PORT
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

records: list[dict[str, Any]] = []


async def hook(request: Request) -> Response:
    arrived = time.time()
    event = json.loads(await request.body())
    data = event.get("data") or {}
    level = data.get("level") or {}
    where = level.get("location_id") or data.get("price_list_id", "")
    records.append(
        {
            "id": request.headers.get("webhook-id"),
            "type": event["type"],
            "key": f"{event['type']}|{event['subject']}|{where}",
            "version": event.get("productversion"),
            "origin": event.get("origin"),
            "lag": arrived - datetime.fromisoformat(event["time"]).timestamp(),
            "at": arrived,
        }
    )
    return Response(status_code=204)


async def stats(request: Request) -> JSONResponse:
    return JSONResponse(records)


async def reset(request: Request) -> Response:
    records.clear()
    return Response(status_code=204)


app = Starlette(
    routes=[
        Route("/hooks", hook, methods=["POST"]),
        Route("/stats", stats, methods=["GET"]),
        Route("/reset", reset, methods=["POST"]),
    ]
)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
