"""Exports over HTTP and the CLI, against a real server: streamed, isolated, delta by cursor."""

from __future__ import annotations

import csv
import io
import json
import uuid
from decimal import Decimal

from tests.e2e.conftest import Demo, Server, cli


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_a_products_export_streams_csv_with_a_cursor_and_only_what_the_key_reads(
    server: Server, demo: Demo
) -> None:
    with server.client("nailco") as c:
        chunks = 0
        with c.stream("GET", "/v1/exports/products") as response:
            assert response.status_code == 200, response.read()
            assert response.headers["content-type"].startswith("text/csv")
            assert response.headers["content-disposition"] == 'attachment; filename="products.csv"'
            cursor = response.headers["export-cursor"]
            body = b""
            for chunk in response.iter_bytes():
                body += chunk
                chunks += 1
        rows = _csv(body.decode())
        assert chunks >= 1 and rows
        assert body.startswith(b"sku,partner,name,category,description,base_unit,barcodes,")
        readable = {"nailco"} | {
            code
            for code, pid in demo.partners.items()
            if code != "nailco" and c.get(f"/v1/partners/{pid}").status_code == 200
        }
        assert {r["partner"] for r in rows} <= readable
        assert "nailco" in {r["partner"] for r in rows}
        listed = c.get("/v1/products", params={"partner_id": demo.partners["nailco"], "limit": 200}).json()
        assert {p["sku"] for p in listed["items"]} <= {r["sku"] for r in rows if r["partner"] == "nailco"}

        # A change after the cursor is the whole delta (JSONL this time).
        product = demo.product["nailco"]
        name = f"Renamed {uuid.uuid4().hex[:6]}"
        patched = c.patch(f"/v1/products/{product['id']}", json={"name": name})
        assert patched.status_code == 200, patched.text
        delta = c.get("/v1/exports/products", params={"format": "jsonl", "since": cursor})
        assert delta.status_code == 200 and delta.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in delta.text.splitlines()]
        assert [(x["sku"], x["name"]) for x in lines] == [(product["sku"], name)]
        assert delta.headers["export-cursor"] != cursor
        again = c.get("/v1/exports/products", params={"since": delta.headers["export-cursor"]})
        assert _csv(again.text) == []

    with server.client("admin") as c:
        everything = _csv(c.get("/v1/exports/products").text)
        assert set(demo.partners) <= {r["partner"] for r in everything}


def test_bad_export_requests_are_problems(server: Server, demo: Demo) -> None:
    with server.client("nailco") as c:
        for path, params in (
            ("/v1/exports/widgets", {}),
            ("/v1/exports/products", {"format": "xml"}),
            ("/v1/exports/stock", {"since": "not-a-cursor"}),
            ("/v1/exports/aliases", {"channel_id": str(uuid.uuid4())}),
        ):
            answer = c.get(path, params=params)
            assert answer.status_code == 422, (path, answer.text)
            assert answer.headers["content-type"].startswith("application/problem+json")
        assert c.get("/v1/exports/stock", params={"channel_id": str(uuid.uuid4())}).status_code == 404
    with server.client() as anonymous:
        assert anonymous.get("/v1/exports/products").status_code == 401


def test_a_channel_view_export_gives_the_availability_endpoint_numbers(server: Server, demo: Demo) -> None:
    with server.client("nailco") as c:
        made = c.post("/v1/channels", json={"name": "view", "kind": "sse", "buffer_stock": 1})
        assert made.status_code == 201, made.text
        channel = made.json()
        view = c.get("/v1/exports/stock", params={"channel_id": channel["id"], "format": "jsonl"})
        assert view.status_code == 200, view.text
        items = [json.loads(line) for line in view.text.splitlines()]
        assert items and {i["partner"] for i in items} == {"nailco"}
        skus = [i["sku"] for i in items][:50]
        numbers = c.get("/v1/availability", params={"channel_id": channel["id"], "sku": skus}).json()["items"]
        expected = {a["sku"]: Decimal(str(a["available"])) for a in numbers}
        assert {i["sku"]: Decimal(str(i["quantity"])) for i in items if i["sku"] in expected} == expected
    with server.client("spirits-curator") as other:
        assert other.get("/v1/exports/stock", params={"channel_id": channel["id"]}).status_code == 404


def test_the_cli_exports_to_a_file_and_prints_the_cursor(server: Server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "stock.csv"
    done = cli(server.env, "export", "stock", "--partner", "nailco", "--output", str(target))
    assert done.returncode == 0, done.stderr
    rows = _csv(target.read_text())
    assert rows and "nailco" in {r["partner"] for r in rows}
    assert "peak-sports" not in {r["partner"] for r in rows}  # shares nothing with nailco
    cursor = next(line.split(": ", 1)[1] for line in done.stderr.splitlines() if line.startswith("cursor: "))
    delta = cli(server.env, "export", "stock", "--partner", "nailco", "--since", cursor, "--format", "jsonl")
    assert delta.returncode == 0, delta.stderr
    assert all(json.loads(line)["partner"] != "peak-sports" for line in delta.stdout.splitlines())
    bad = cli(server.env, "export", "stock", "--since", "garbage")
    assert bad.returncode == 2 and "since" in bad.stderr
