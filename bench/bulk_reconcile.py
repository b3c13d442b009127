"""Reconciliation of a big channel: SKUs/s and peak memory.

    python bench/bulk_reconcile.py --source shopify --skus 100000   # target: <= 60 s
    python bench/bulk_reconcile.py --source feed --skus 1000000     # target: <= 30 s

A fresh PostgreSQL database (``--db sqlite``: a temporary file) gets ``--skus`` products
with a stock level and a price, made set-based (``bench/bulk_export.py``'s seed). The
channel runs in a child process, so the figures are the hub's alone:

- ``shopify``: the local Shopify GraphQL server (tests/shopify_graphql.py, with a linear
  bulk-operation builder) holding one variant per product, mapped by ``sku_mappings``
  (inserted set-based); the hub reads it with ``bulkOperationRunQuery`` (JSONL).
- ``feed``: a webhook channel's ``config.state_url`` served as one JSON Lines file (the
  state contract of sync/state_reader.py), standing in for a pull feed of that size.
- ``pull_feed``: the same rows as a ``pull_feed`` channel's JSONL (``type: stock_count``),
  read by ``sync/feeds.read_pull_feed_items`` (which holds the whole feed text in memory).

The channel side carries deliberate drift (every 100th quantity, every 250th price and
every 1,000th item missing, plus 100 extra items), and the run's counts are checked
against it. Prints SKUs/s, the phases' seconds and peak RSS (before and after the run).
Bounded by ``--timeout`` seconds; the database is dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bulk_export import PREFIX, seed  # noqa: E402
from productsync.bootstrap import Hub  # noqa: E402
from productsync.config import Settings  # noqa: E402
from productsync.domain.access import system_actor  # noqa: E402
from productsync.domain.channels import ChannelKind, NewChannel  # noqa: E402
from productsync.services import channels  # noqa: E402
from productsync.services.catalog import ensure_default_categories  # noqa: E402
from productsync.store import migrate  # noqa: E402
from productsync.store.database import Database, create_database  # noqa: E402
from productsync.store.uow import transaction  # noqa: E402
from productsync.sync.reconcile import reconcile  # noqa: E402
from tests import services as test_services  # noqa: E402

ADMIN = system_actor("bench")
TOKEN, LOCATION, VARIANT0 = "shpat_bench", 655441491, 10_000_000
TITLE, DESCRIPTION, QTY, PRICE = "Bulk item {g}", "A racket, light and strong", 7, "19.99"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def drift(g: int) -> tuple[bool, int, str]:
    """The channel's side of product g: (present, quantity, price)."""
    return g % 1000 != 999, (QTY + 1 if g % 100 == 3 else QTY), ("1.00" if g % 250 == 7 else PRICE)


def expected_counts(skus: int) -> dict[str, int]:
    gs = range(skus)
    missing = sum(1 for g in gs if not drift(g)[0])
    stock = sum(1 for g in gs if drift(g)[0] and drift(g)[1] != QTY)
    price = sum(1 for g in gs if drift(g)[0] and drift(g)[2] != PRICE)
    return {"missing": missing, "extra": 100, "wrong_stock": stock, "wrong_price": price, "wrong_text": 0}


# --- the channel, in a child process --------------------------------------------------


def serve_feed(skus: int, *, typed: bool = False) -> None:
    """A state_url answering one JSONL file (written once, sent as a file); ``typed``: the
    same rows as a pull feed's JSONL (``type: stock_count`` rows carrying the price too)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    path = Path(tempfile.mkstemp(suffix=".jsonl")[1])
    with path.open("w") as out:
        for g in range(skus):
            present, qty, price = drift(g)
            if present:
                sku = f"{PREFIX}{g:07d}"
                row = {"sku": sku, "quantity": qty, "price": price, "title": TITLE.format(g=g)}
                out.write(json.dumps({"type": "stock_count", **row} if typed else row))
                out.write("\n")
        for n in range(100):
            extra = {"sku": f"EXTRA-{n}", "quantity": 1, "price": "1.00"}
            out.write(json.dumps({"type": "stock_count", **extra} if typed else extra) + "\n")
    size = path.stat().st_size

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("content-type", "application/jsonl")
            self.send_header("content-length", str(size))
            self.end_headers()
            with path.open("rb") as f:
                while chunk := f.read(1 << 20):
                    self.wfile.write(chunk)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"http://127.0.0.1:{server.server_address[1]}/state", flush=True)
    try:
        server.serve_forever()
    finally:
        path.unlink()


def serve_shopify(skus: int) -> None:
    from tests.shopify_graphql import FakeShopifyGraphQL, gid

    class Shop(FakeShopifyGraphQL):
        """The same answers, with the bulk file built in one pass (the test server's
        per-product scan of every variant is quadratic)."""

        def _op_bulkOperationRunQuery(self, variables: dict[str, Any], query: str) -> dict[str, Any]:  # noqa: N802
            lines = []
            by_product: dict[str, list[dict[str, Any]]] = {}
            for v in self.variants.values():
                by_product.setdefault(v["product"], []).append(v)
            for pid, p in self.products.items():
                lines.append(
                    json.dumps({"id": pid, "title": p["title"], "descriptionHtml": p["descriptionHtml"]})
                )
                for v in by_product.get(pid, []):
                    node = self._variant_node(v, self.location)
                    del node["product"]
                    lines.append(json.dumps({**node, "__parentId": pid}))
            n = str(len(self.bulk) + 1)
            op_id = gid("BulkOperation", int(n))
            self.bulk[n] = {"id": op_id, "polls": 0, "jsonl": "\n".join(lines) + "\n", "count": len(lines)}
            return {
                "bulkOperationRunQuery": {
                    "bulkOperation": {"id": op_id, "status": "CREATED"},
                    "userErrors": [],
                }
            }

    shop = Shop(TOKEN, location=LOCATION)
    for g in range(skus):
        present, qty, price = drift(g)
        if present:
            shop.add_variant(
                VARIANT0 + g,
                product=VARIANT0 + g,
                item=VARIANT0 + g,
                sku=f"{PREFIX}{g:07d}",
                available=qty,
                price=price,
                title=TITLE.format(g=g),
            )
            shop.products[gid("Product", VARIANT0 + g)]["descriptionHtml"] = f"<p>{DESCRIPTION}</p>"
    for n in range(100):
        shop.add_variant(VARIANT0 * 2 + n, product=VARIANT0 * 2 + n, item=VARIANT0 * 2 + n, sku=f"EXTRA-{n}")
    with shop:
        print(shop.url, flush=True)
        while True:
            time.sleep(3600)


def _child(source: str, skus: int) -> tuple[subprocess.Popen[str], str]:
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", source, "--skus", str(skus)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert child.stdout is not None
    url = child.stdout.readline().strip()
    if not url:
        child.kill()
        raise RuntimeError("the channel's server did not start")
    return child, url


# --- the hub ----------------------------------------------------------------------------


async def _channel(db: Database, source: str, url: str, skus: int) -> Any:
    async def make(uow: Any) -> Any:
        partner = await uow.partners.get_by_code("bench-export")
        loc = await uow.locations.get_by_code("WH-EXPORT")
        (pl,) = await uow.prices.lists({partner.id})
        shopify = source == "shopify"
        if source == "pull_feed":  # sync/feeds.read_pull_feed_items over the same rows, typed
            kind, config, hook = ChannelKind("pull_feed"), {"pull": {"format": "jsonl"}}, url
        elif shopify:
            kind, config, hook = ChannelKind.SHOPIFY, {"location_id": LOCATION}, url
        else:
            kind, config, hook = ChannelKind.WEBHOOK, {"state_url": url}, "http://127.0.0.1:9/hook"
        channel, _ = await channels.create_channel(
            uow,
            ADMIN,
            NewChannel(
                name=f"bench {source}",
                kind=kind,
                owner_partner_id=partner.id,
                url=hook,
                partner_ids=(partner.id,),
                location_ids=(loc.id,),
                price_list_id=pl.id,
                config=config,
            ),
            credentials={"access_token": TOKEN} if shopify else None,
            targets=Settings(webhook_allow_loopback=True).target_policy(),
        )
        return channel

    channel = await transaction(db, make)
    if source == "shopify":  # one mapping per product, set-based: variant id = VARIANT0 + number
        number = "CAST(substr(sku, 5) AS INTEGER)"
        async with db.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO sku_mappings "
                    "(channel_id, external_id, product_id, external_sku, updated_at) "
                    f"SELECT :c, CAST({VARIANT0} + {number} AS TEXT), id, sku, CURRENT_TIMESTAMP "
                    f"FROM products WHERE sku LIKE '{PREFIX}%'"
                ),
                {"c": channel.id if db.dialect == "postgresql" else channel.id.hex},
            )
            if db.dialect == "postgresql":
                await conn.execute(text("ANALYZE sku_mappings"))
    return channel


async def _run(source: str, skus: int, db_kind: str, url: str) -> dict[str, Any]:
    db = create_database(url, pool_size=5)
    child = None
    try:
        from cryptography.fernet import Fernet

        from productsync.store.secrets import SecretBox

        db.secret_box = SecretBox(Fernet.generate_key())
        await transaction(db, ensure_default_categories)
        began = time.perf_counter()
        await seed(db, skus)
        seeded = time.perf_counter() - began
        child, channel_url = _child(source, skus)
        channel = await _channel(db, source, channel_url, skus)
        hub = Hub(Settings(webhook_allow_loopback=True, webhook_timeout_seconds=120), db)
        rss_before = peak_rss_mb()
        summary = await reconcile(hub, ADMIN, channel.id)
        want = expected_counts(skus)
        return {
            "source": source,
            "db": db_kind,
            "skus": skus,
            "status": summary.status,
            "error": summary.error,
            "seconds": round(summary.seconds, 2),
            "skus_per_s": round(skus / summary.seconds) if summary.seconds else None,
            "phases_s": {k: round(v, 2) for k, v in summary.timings.items()},
            "seed_s": round(seeded, 1),
            "items_read": summary.items_read,
            "expected": summary.expected,
            "matched": summary.matched,
            "consistency_rate": summary.consistency_rate,
            "counts": summary.counts,
            "counts_as_seeded": summary.counts == want,
            "peak_rss_mb_before_run": round(rss_before),
            "peak_rss_mb": round(peak_rss_mb()),
        }
    finally:
        if child is not None:
            child.kill()
            child.wait()
        await db.dispose()


def run(source: str, skus: int, *, db: str = "postgres", timeout: float = 900) -> dict[str, Any]:
    """One reconciliation of ``skus`` SKUs against the ``shopify`` or ``feed`` channel."""
    if db == "postgres":
        url = asyncio.run(test_services.create_postgres_database())
    else:
        url = f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    try:
        migrate.upgrade(url)
        return asyncio.run(asyncio.wait_for(_run(source, skus, db, url), timeout))
    finally:
        if db == "postgres":
            asyncio.run(test_services.drop_postgres_database(url))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--source", choices=["shopify", "feed", "pull_feed"], default="shopify")
    parser.add_argument("--skus", type=int, default=100_000)
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--serve", choices=["shopify", "feed", "pull_feed"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve in ("feed", "pull_feed"):
        return serve_feed(args.skus, typed=args.serve == "pull_feed")
    if args.serve == "shopify":
        return serve_shopify(args.skus)
    os.environ.setdefault("PRODUCTSYNC_WEBHOOK_ALLOW_LOOPBACK", "1")
    print(json.dumps(run(args.source, args.skus, db=args.db, timeout=args.timeout), indent=2))


if __name__ == "__main__":
    main()
