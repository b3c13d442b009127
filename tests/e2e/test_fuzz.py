"""Fuzzing against the real server: whatever a client sends, the hub must not answer 5xx.

- Schemathesis generates requests for every operation of the OpenAPI spec (the SSE
  stream excepted: it is endless by design and tested on its own). Path ids of the review
  queue and of oversells are pinned to real open ones, so their bodies reach the use
  case instead of stopping at 404 (several open ones, drawn from schemathesis
  dictionaries); the run's JUnit report must name those operations.
- The webhook endpoints take no schema'd body and authenticate by signature, so
  schemathesis only ever reaches their signature check. Hypothesis posts hostile JSON
  (and some non-JSON) with VALID Stripe and Shopify signatures, so every payload reaches
  the parsing and the use case.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.conftest import STRIPE_SECRET, Server

MUST_BE_FUZZED = (
    "POST /v1/conflicts/{conflict_id}/resolve",
    "GET /v1/oversells",
    "GET /v1/oversells/{oversell_id}",
    "POST /v1/oversells/{oversell_id}/resolve",
    "POST /v1/webhooks/stripe",
    "POST /v1/webhooks/shopify/{channel_id}",
)


def _open_conflicts_and_oversells(server: Server, who: str, n: int = 8) -> tuple[list[str], list[str]]:
    """As ``who``: ``n`` counts queued on a manual_review channel, and ``n`` oversells (sales
    at an empty location of its own): enough open ones that resolutions with odd values
    keep finding one still open."""
    with server.client(who) as c:
        owner = {} if who != "admin" else {"owner_partner_id": c.get("/v1/partners").json()[0]["id"]}
        made = c.post(
            "/v1/locations",
            json={"code": f"FZ-{uuid.uuid4().hex[:8]}", "name": "Fuzz", "kind": "store", **owner},
        )
        assert made.status_code == 201, made.text
        location = made.json()["id"]
        partner = made.json()["owner_partner_id"]
        product = c.get("/v1/products", params={"partner_id": partner, "limit": 1}).json()["items"][0]
        ids: dict[str, list[str]] = {"manual_review": [], "master_wins": []}
        for policy, body in (
            ("manual_review", {"type": "stock_count", "quantity": 1}),
            ("master_wins", {"type": "sale", "quantity": 1}),
        ):
            channel = c.post(
                "/v1/channels",
                json={
                    "name": f"fuzz {policy}",
                    "kind": "sse",
                    "location_ids": [location],
                    "conflict_policy": policy,
                },
            )
            assert channel.status_code == 201, channel.text
            cid = channel.json()["id"]
            c.put(
                f"/v1/channels/{cid}/mappings",
                json={"mappings": [{"external_id": "f-1", "product_id": product["id"]}]},
            )
            for _ in range(n):
                sent = c.post(
                    f"/v1/channels/{cid}/inbound",
                    json={"event_id": uuid.uuid4().hex, "external_id": "f-1", **body},
                )
                assert sent.status_code in (200, 202), sent.text
                ids[policy].append(sent.json().get("conflict_id") or sent.json()["oversell_id"])
    return ids["manual_review"], ids["master_wins"]


def _fuzzed_operations(report_dir: Path) -> tuple[int, set[str], int]:
    """From schemathesis' JUnit report: test cases, operation names, failures."""
    names: set[str] = set()
    failures = 0
    total = 0
    for path in report_dir.rglob("*.xml"):
        for case in ET.parse(path).getroot().iter("testcase"):
            total += 1
            names.add(case.get("name", ""))
            failures += len(case.findall("failure")) + len(case.findall("error"))
    return total, names, failures


@pytest.mark.parametrize("who", ["admin", "nailco"])
def test_no_input_makes_the_server_fail(scratch_server: Server, who: str, tmp_path: Path) -> None:
    server = scratch_server
    conflicts, oversells = _open_conflicts_and_oversells(server, who)
    (tmp_path / "schemathesis.toml").write_text(
        f"[dictionaries.conflicts]\nvalues = {json.dumps(conflicts)}\n"
        f"[dictionaries.oversells]\nvalues = {json.dumps(oversells)}\n"
        '[parameters]\n"path.conflict_id" = { dictionary = "conflicts" }\n'
        '"path.oversell_id" = { dictionary = "oversells" }\n'
    )
    cli = shutil.which("schemathesis") or str(Path(sys.executable).parent / "schemathesis")
    result = subprocess.run(
        [
            cli,
            "run",
            f"{server.base_url}/openapi.json",
            "-H",
            f"Authorization: Bearer {server.keys[who]}",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            os.environ.get("PRODUCTSYNC_FUZZ_EXAMPLES", "25"),
            "--seed",
            "20261123",
            "-w",
            "2",
            "--no-color",
            "--report",
            "junit",
            "--report-dir",
            str(tmp_path / "report"),
            # An endless event stream never completes a response; tests/e2e/test_sync.py
            # covers it (and its bad Last-Event-ID answer).
            "--exclude-path",
            "/v1/stream",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    summary = re.search(r"(\d+) generated, (\d+) passed", result.stdout)
    assert summary, result.stdout[-3000:]
    operations, names, failures = _fuzzed_operations(tmp_path / "report")
    missing = [op for op in MUST_BE_FUZZED if op not in names]
    assert not missing and failures == 0, (missing, failures, sorted(names))
    # The pinned ids were reached: some of the queued changes and oversells got resolved.
    with server.client(who) as c:
        resolved = {
            x["id"]
            for x in c.get("/v1/conflicts", params={"status": "resolved", "limit": 500}).json()["items"]
        }
        closed = {
            x["id"]
            for x in c.get("/v1/oversells", params={"status": "resolved", "limit": 500}).json()["items"]
        }
    assert resolved & set(conflicts) and closed & set(oversells), (resolved, closed)
    print(f"\nschemathesis ({server.backend}, {who}): {operations} operations, {summary.group(0)}, 0 5xx")


# --- webhooks: hostile payloads, valid signatures ---------------------------------------------

_text = st.text(max_size=40)
_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    _text,
    st.sampled_from(
        ["NaN", "-Infinity", "1e999999", "-1", "0", "0.0001", "\u0000", "\ud800", "💅", "1" * 300]
    ),
)


def _containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4)


_json = st.recursive(_scalar, _containers, max_leaves=12)


def _metadata(sku: str, location: str) -> st.SearchStrategy[Any]:
    value = st.one_of(_scalar, _json)
    keys = st.sampled_from(["sku", "quantity", "location_id", "reservation_id", "reservation_ref", "x"])
    hostile = st.dictionaries(keys, value, max_size=5)
    plausible = st.fixed_dictionaries(
        {"sku": st.one_of(st.just(sku), _scalar)},
        optional={
            "quantity": st.one_of(st.sampled_from(["1", "2", "100000", "0.5"]), _scalar),
            "location_id": st.one_of(st.just(location), st.just(str(uuid.uuid4())), _scalar),
            "reservation_ref": _scalar,
            "reservation_id": st.one_of(st.just(str(uuid.uuid4())), _scalar),
        },
    )
    return st.one_of(hostile, plausible, _json)


def _stripe_events(sku: str, location: str) -> st.SearchStrategy[Any]:
    obj = st.fixed_dictionaries(
        {},
        optional={
            "id": st.one_of(_text, _json),
            "payment_intent": st.one_of(_text, _json, st.fixed_dictionaries({"id": _scalar})),
            "metadata": _metadata(sku, location),
        },
    )
    event = st.fixed_dictionaries(
        {
            "type": st.one_of(
                st.sampled_from(
                    ["payment_intent.succeeded", "checkout.session.completed", "charge.refunded"]
                ),
                _scalar,
            ),
            "data": st.one_of(st.fixed_dictionaries({"object": st.one_of(obj, _json)}), _json),
        },
        optional={"id": st.one_of(st.text(min_size=1, max_size=30).map(lambda s: f"evt_{s}"), _json)},
    )
    return st.one_of(event, _json)


def _shopify_orders(variant: str) -> st.SearchStrategy[Any]:
    item = st.fixed_dictionaries(
        {},
        optional={
            "variant_id": st.one_of(st.just(variant), st.just(int(variant)), _scalar, _json),
            "quantity": st.one_of(st.integers(min_value=-3, max_value=10**7), _scalar, _json),
            "id": _scalar,
        },
    )
    refund_item = st.fixed_dictionaries(
        {},
        optional={
            "quantity": st.one_of(st.integers(min_value=-3, max_value=50), _scalar),
            "restock_type": st.one_of(st.sampled_from(["return", "no_restock", "cancel"]), _scalar),
            "line_item": st.one_of(st.fixed_dictionaries({"variant_id": st.just(variant)}), _json),
        },
    )
    order = st.fixed_dictionaries(
        {},
        optional={
            "id": st.one_of(st.integers(), _scalar),
            "order_id": _scalar,
            "line_items": st.one_of(st.lists(st.one_of(item, _json), max_size=3), _json),
            "refund_line_items": st.one_of(st.lists(st.one_of(refund_item, _json), max_size=3), _json),
        },
    )
    return st.one_of(order, _json)


def _encode(value: Any, raw: bytes | None) -> bytes:
    if raw is not None:
        return raw
    return json.dumps(value).encode("utf-8", "surrogatepass")


_raw_bodies = st.one_of(
    st.none(),
    st.none(),
    st.none(),
    st.binary(max_size=64),
    st.sampled_from(
        [b"", b"[]", b"null", b'"x"', b"{", b'{"id": 1e999}', b"{\xff}", b"[" * 200 + b"]" * 200]
    ),
)


def _header(text: str) -> bytes:
    """Any text HTTP/1.1 can carry in a header value (latin-1, no control characters);
    what it cannot carry never reaches the app (the server's parser answers 400)."""
    kept = "".join(ch for ch in text if 0x20 <= ord(ch) < 0x7F or 0xA0 <= ord(ch) <= 0xFF)
    return kept.strip().encode("latin-1")


def _shopify_channel(server: Server) -> tuple[str, str, str]:
    """A paused Shopify channel of nailco's (no outbound calls) with one variant mapped."""
    with server.client("nailco") as c:
        partner = c.get("/v1/partners").json()
        product = c.get("/v1/products", params={"limit": 1, "partner_id": partner[0]["id"]}).json()["items"][
            0
        ]
        location = max(c.get(f"/v1/products/{product['id']}/stock").json()["locations"], key=lambda lv: 0)[
            "location_id"
        ]
        made = c.post(
            "/v1/channels",
            json={
                "name": "fuzz shopify",
                "kind": "shopify",
                "url": "https://fuzz.invalid",
                "location_ids": [location],
                "credentials": {"access_token": "shpat_fuzz", "webhook_secret": "fuzz-secret"},
            },
        )
        assert made.status_code == 201, made.text
        channel = made.json()["id"]
        c.patch(f"/v1/channels/{channel}", json={"status": "paused"})
        c.put(
            f"/v1/channels/{channel}/mappings",
            json={"mappings": [{"external_id": "6001", "product_id": product["id"]}]},
        )
    return channel, "fuzz-secret", location


def test_hostile_webhook_payloads_with_valid_signatures_never_fail_the_server(scratch_server: Server) -> None:
    server = scratch_server
    channel, secret, location = _shopify_channel(server)
    with server.client("nailco") as c:
        sku = c.get("/v1/products", params={"limit": 1}).json()["items"][0]["sku"]
    statuses: list[tuple[str, int]] = []
    examples = int(os.environ.get("PRODUCTSYNC_WEBHOOK_FUZZ_EXAMPLES", "150"))
    client = httpx.Client(base_url=server.base_url, timeout=30)

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(event=_stripe_events(sku, location), raw=_raw_bodies)
    def stripe_case(event: Any, raw: bytes | None) -> None:
        body = _encode(event, raw)
        t = int(time.time())
        digest = hmac.new(STRIPE_SECRET.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
        r = client.post(
            "/v1/webhooks/stripe",
            content=body,
            headers={"content-type": "application/json", "stripe-signature": f"t={t},v1={digest}"},
        )
        statuses.append(("stripe", r.status_code))
        assert r.status_code < 500, (body[:300], r.status_code, r.text[:300])
        if r.status_code >= 400:
            assert r.headers["content-type"] == "application/problem+json", r.text[:300]

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        order=_shopify_orders("6001"),
        raw=_raw_bodies,
        topic=st.one_of(
            st.sampled_from(["orders/create", "orders/paid", "refunds/create"]), st.text(max_size=20)
        ),
        webhook_id=st.one_of(st.uuids().map(str), st.text(min_size=1, max_size=300)),
    )
    def shopify_case(order: Any, raw: bytes | None, topic: str, webhook_id: str) -> None:
        body = _encode(order, raw)
        digest = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
        headers = {
            "content-type": b"application/json",
            "x-shopify-hmac-sha256": digest.encode(),
            "x-shopify-topic": _header(topic),
            "x-shopify-webhook-id": _header(webhook_id) or b"w",
        }
        r = client.post(f"/v1/webhooks/shopify/{channel}", content=body, headers=headers)
        statuses.append(("shopify", r.status_code))
        assert r.status_code < 500, (body[:300], headers, r.status_code, r.text[:300])
        if r.status_code >= 400:
            assert r.headers["content-type"] == "application/problem+json", r.text[:300]

    try:
        stripe_case()
        shopify_case()
    finally:
        client.close()
    server_errors = [s for s in statuses if s[1] >= 500]
    accepted = {
        src: sum(1 for s, code in statuses if s == src and code < 300) for src in ("stripe", "shopify")
    }
    assert not server_errors
    # The generators are not all refused at the door: some payloads reach the use case.
    assert accepted["stripe"] > 0 and accepted["shopify"] > 0, accepted
    print(
        f"\nwebhook fuzz ({server.backend}): {len(statuses)} signed requests, "
        f"{len(server_errors)} server errors, accepted {accepted}"
    )
