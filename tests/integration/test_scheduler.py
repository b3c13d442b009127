"""The scheduler on both databases: a missed job runs once, two schedulers run each due
job once, a dead run's lease runs out, pull feeds go through the channel's conflict
policy (served by a local HTTP server on 127.0.0.1), file feeds write full then delta
files to a directory and by HTTP PUT."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from productsync.bootstrap import Hub
from productsync.config import Settings
from productsync.domain.access import Scope
from productsync.domain.channels import ChannelKind, ConflictPolicy, NewChannel
from productsync.services import channels, schedules, stock
from productsync.store.database import create_database
from productsync.store.tables_schedules import feed_runs
from productsync.store.uow import transaction
from productsync.sync.feeds import read_pull_feed_items
from productsync.sync.guard import TargetGuard
from productsync.sync.scheduler import Scheduler
from tests.conftest import count_rows


@dataclass
class FeedServer:
    """A channel's feed on 127.0.0.1: GET serves ``body`` (with an ETag when set), PUT
    keeps what it receives."""

    url: str = ""
    body: str = ""
    etag: str | None = None
    gets: int = 0
    not_modified: int = 0
    puts: dict[str, bytes] = field(default_factory=dict)
    gate: asyncio.Event | None = None  # when set, a GET waits for it (a run kept in flight)

    async def get(self, request: web.Request) -> web.Response:
        self.gets += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.etag and request.headers.get("If-None-Match") == self.etag:
            self.not_modified += 1
            return web.Response(status=304)
        headers = {"ETag": self.etag} if self.etag else {}
        return web.Response(text=self.body, content_type="text/csv", headers=headers)

    async def put(self, request: web.Request) -> web.Response:
        self.puts[request.path_qs] = await request.read()
        return web.Response(status=201)


@pytest.fixture
async def server() -> AsyncIterator[FeedServer]:
    feed = FeedServer()
    app = web.Application()
    app.router.add_get("/{name}", feed.get)
    app.router.add_put("/{tail:.*}", feed.put)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    feed.url = f"http://127.0.0.1:{port}"
    yield feed
    await runner.cleanup()


@pytest.fixture
def hub(database) -> Hub:  # type: ignore[no-untyped-def]
    return Hub(Settings(webhook_allow_loopback=True, webhook_timeout_seconds=5), database)


def _admin(world):  # type: ignore[no-untyped-def]
    return replace(world.actor_a, scopes=frozenset({*world.actor_a.scopes, Scope.CHANNELS_ADMIN}))


async def _channel(hub, world, kind, **over):  # type: ignore[no-untyped-def]
    values: dict[str, Any] = dict(
        name=kind.value, kind=kind, owner_partner_id=None, location_ids=(world.loc_a.id,)
    )
    values.update(over)
    channel, _ = await transaction(
        hub.db,
        lambda uow: channels.create_channel(
            uow, _admin(world), NewChannel(**values), targets=hub.settings.target_policy()
        ),
    )
    return channel


async def _schedule(hub, channel):  # type: ignore[no-untyped-def]
    rows = await transaction(hub.db, lambda uow: uow.schedules.all(channel_ids=[channel.id]), readonly=True)
    assert len(rows) == 1, rows
    return rows[0]


async def _runs(hub, channel):  # type: ignore[no-untyped-def]
    return await transaction(hub.db, lambda uow: uow.schedules.runs(channel.id, limit=100), readonly=True)


async def _set_stock(hub, world, quantity):  # type: ignore[no-untyped-def]
    await transaction(
        hub.db,
        lambda uow: stock.set_stock(
            uow,
            world.actor_a,
            location_id=world.loc_a.id,
            product_id=world.product.id,
            quantity=Decimal(quantity),
        ),
    )


async def _on_hand(hub, world) -> Decimal:  # type: ignore[no-untyped-def]
    level = await transaction(
        hub.db, lambda uow: uow.stock.get_level(world.product.id, world.loc_a.id), readonly=True
    )
    return Decimal(level.on_hand)


async def test_a_job_missed_while_everything_was_down_runs_once_on_start(hub, world, server) -> None:
    server.body = "sku,quantity\n"
    channel = await _channel(hub, world, ChannelKind.PULL_FEED, url=f"{server.url}/missed.csv")
    scheduler = Scheduler(hub, channel_ids={channel.id})
    await scheduler.sync()
    job = await _schedule(hub, channel)
    assert job.every_seconds == 900 and job.enabled
    now = datetime.now(UTC)
    # Down for ten hours: forty runs were missed.
    await transaction(hub.db, lambda uow: uow.schedules.make_due(job.id, now - timedelta(hours=10)))
    first = await scheduler.tick(now)
    again = await scheduler.tick(now + timedelta(seconds=5))
    assert [r.status for r in first] == ["succeeded"] and again == []
    assert await count_rows(hub.db, feed_runs, schedule_id=job.id) == 1
    after = await _schedule(hub, channel)
    assert after.last_status == "succeeded" and after.lease_owner is None
    assert now + timedelta(seconds=890) <= after.next_run_at <= datetime.now(UTC) + timedelta(seconds=900)
    assert len(await scheduler.tick(after.next_run_at)) == 1  # and then one interval later


async def test_two_schedulers_ticking_at_once_run_each_due_job_exactly_once(
    hub, world, server, database_url
) -> None:
    server.body = "sku,quantity\n"
    made = [
        await _channel(hub, world, ChannelKind.PULL_FEED, url=f"{server.url}/twin-{i}.csv") for i in range(6)
    ]
    ids = {c.id for c in made}
    await Scheduler(hub, channel_ids=ids).sync()
    other_db = create_database(database_url)  # a second process: its own pool and connections
    other_db.secret_box = hub.db.secret_box
    try:
        first = Scheduler(hub, owner="one", channel_ids=ids, max_parallel=2)
        second = Scheduler(Hub(hub.settings, other_db), owner="two", channel_ids=ids, max_parallel=2)
        now = datetime.now(UTC)

        async def ticking(s: Scheduler) -> int:
            return sum([len(await s.tick(now + timedelta(milliseconds=i))) for i in range(6)])

        ran = await asyncio.gather(ticking(first), ticking(second))
    finally:
        await other_db.dispose()
    assert sum(ran) == 6
    assert server.gets == 6
    for channel in made:
        runs = await _runs(hub, channel)
        assert len(runs) == 1 and runs[0].status == "succeeded"


async def test_a_dead_runs_lease_runs_out_and_the_job_runs_again(hub, world, server) -> None:
    server.body = "sku,quantity\n"
    channel = await _channel(hub, world, ChannelKind.PULL_FEED, url=f"{server.url}/dead.csv")
    dead = Scheduler(hub, owner="dead", channel_ids={channel.id}, lease_seconds=60)
    await dead.sync()
    now = datetime.now(UTC)
    claimed = await dead.claim(now)  # ... and the process dies before running it
    assert len(claimed) == 1
    alive = Scheduler(hub, owner="alive", channel_ids={channel.id}, lease_seconds=60)
    assert await alive.tick(now + timedelta(seconds=30)) == []  # the lease still holds
    later = now + timedelta(seconds=900 + 1)
    assert [r.status for r in await alive.tick(later)] == ["succeeded"]
    runs = await _runs(hub, channel)
    assert sorted((r.runner, r.status) for r in runs) == [("alive", "succeeded"), ("dead", "failed")]
    assert any("abandoned" in (r.error or "") for r in runs)


def _feed(rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, ["sku", "type", "quantity", "price", "changed_at"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


@pytest.mark.parametrize(
    ("policy", "expected", "outcome"),
    [
        (ConflictPolicy.MASTER_WINS, Decimal(10), "kept_hub"),
        (ConflictPolicy.LAST_WRITE_WINS, Decimal(4), "applied"),
    ],
)
async def test_a_pull_feed_goes_through_the_channels_conflict_policy(
    hub, world, server, policy, expected, outcome
) -> None:
    await _set_stock(hub, world, 10)
    later = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    sku = world.product.sku
    server.body = _feed(
        [
            {"sku": sku, "type": "stock_count", "quantity": "4", "changed_at": later},
            {"sku": "NO-SUCH-SKU", "type": "stock_count", "quantity": "1"},
            {"sku": sku, "type": "teleport", "quantity": "1"},
            {"sku": sku, "type": "sale", "quantity": ""},
        ]
    )
    server.etag = f'"{uuid.uuid4().hex}"'
    channel = await _channel(
        hub, world, ChannelKind.PULL_FEED, url=f"{server.url}/{policy.value}.csv", conflict_policy=policy
    )
    scheduler = Scheduler(hub, channel_ids={channel.id})
    await scheduler.sync()
    [result] = await scheduler.tick()
    assert result.status == "partial"
    assert result.counts["rows"] == 4 and result.counts[outcome] == 1 and result.counts["failed"] == 3
    assert [e["line"] for e in result.errors] == [3, 4, 5]
    assert "NO-SUCH-SKU" in result.errors[0]["reason"] and "teleport" in result.errors[1]["reason"]
    assert await _on_hand(hub, world) == expected
    # Read again (rows refused: the validators were not kept, so the body comes again):
    # the row taken before is a replay, not a second change.
    job = await _schedule(hub, channel)
    [again] = await scheduler.tick(job.next_run_at)
    assert again.counts.get("replayed") == 1 and outcome not in again.counts
    assert await _on_hand(hub, world) == expected
    runs = await _runs(hub, channel)
    assert len(runs) == 2 and runs[0].errors[0]["line"] == 3


async def test_an_unchanged_pull_feed_costs_one_request(hub, world, server) -> None:
    await _set_stock(hub, world, 10)
    server.body = _feed([{"sku": world.product.sku, "type": "stock_count", "quantity": "7"}])
    server.etag = '"v1"'
    channel = await _channel(
        hub,
        world,
        ChannelKind.PULL_FEED,
        url=f"{server.url}/etag.csv",
        conflict_policy=ConflictPolicy.LAST_WRITE_WINS,
        config={"pull": {"every_minutes": 5, "format": "csv"}},
    )
    scheduler = Scheduler(hub, channel_ids={channel.id})
    await scheduler.sync()
    [first] = await scheduler.tick()
    assert first.status == "succeeded" and first.counts["applied"] == 1
    assert await _on_hand(hub, world) == 7
    job = await _schedule(hub, channel)
    assert job.every_seconds == 300 and job.state.get("etag") == '"v1"'
    [second] = await scheduler.tick(job.next_run_at)
    assert second.counts == {"rows": 0, "unchanged": 1} and server.not_modified == 1


async def test_a_pull_feed_reads_as_channel_items_for_reconciliation(hub, world, server) -> None:
    server.body = (
        "external_id,sku,type,quantity,price,title\nE-1,,stock_count,3,9.90,Racket\n"
        ",SKU-2,price,,4.50,\n,SKU-3,sale,1,,\nbad,,teleport,1,,\n"
    )
    channel = await _channel(hub, world, ChannelKind.PULL_FEED, url=f"{server.url}/items.csv")
    guard = TargetGuard(hub.settings.target_policy())
    items = [i async for i in read_pull_feed_items(channel, {}, guard=guard, timeout=5)]
    assert [(i.external_id, i.quantity, i.price, i.title) for i in items] == [
        ("E-1", Decimal(3), Decimal("9.90"), "Racket"),
        ("SKU-2", None, Decimal("4.50"), None),
    ]


async def test_a_file_feed_writes_full_then_delta_files(hub, world, server, tmp_path: Path) -> None:
    await _set_stock(hub, world, 10)
    out = tmp_path / "feed"
    channel = await _channel(
        hub,
        world,
        ChannelKind.FILE_FEED,
        partner_ids=(world.a.id,),
        config={"feed": {"target": f"dir://{out}", "kinds": ["stock", "products"], "every_minutes": 5}},
    )
    scheduler = Scheduler(hub, channel_ids={channel.id})
    await scheduler.sync()
    [full] = await scheduler.tick()
    assert full.status == "succeeded" and full.counts["files"] == 2 and full.counts.get("full") == 1
    names = sorted(p.name for p in out.iterdir())
    assert [n.split("-")[:2] for n in names] == [["products", "full"], ["stock", "full"]]
    assert not [p for p in out.iterdir() if p.name.startswith(".tmp-")]
    stock_full = next(out.glob("stock-full-*.csv")).read_text()
    assert world.product.sku in stock_full
    await _set_stock(hub, world, 3)
    job = await _schedule(hub, channel)
    [delta] = await scheduler.tick(job.next_run_at)
    assert delta.status == "succeeded" and delta.counts.get("delta") == 1
    stock_delta = list(csv.DictReader(io.StringIO(next(out.glob("stock-delta-*.csv")).read_text())))
    assert [r["quantity"] for r in stock_delta if world.product.sku in r.values()] == ["3"]
    assert delta.counts["stock_rows"] == len(stock_delta) and delta.counts["stock_rows"] < 1000
    # Nothing changed since: the next delta has no rows.
    job = await _schedule(hub, channel)
    [empty] = await scheduler.tick(job.next_run_at)
    assert empty.counts["rows"] == 0


async def test_a_file_feed_puts_its_files_over_http(hub, world, server) -> None:
    await _set_stock(hub, world, 10)
    channel = await _channel(
        hub,
        world,
        ChannelKind.FILE_FEED,
        partner_ids=(world.a.id,),
        config={
            "feed": {
                "target": f"{server.url}/drop/{{kind}}-{{mode}}.jsonl",
                "kinds": ["stock"],
                "format": "jsonl",
            }
        },
    )
    scheduler = Scheduler(hub, channel_ids={channel.id})
    await scheduler.sync()
    [run] = await scheduler.tick()
    assert run.status == "succeeded", run.error
    body = server.puts["/drop/stock-full.jsonl"].decode()
    assert world.product.sku in body and body.endswith("\n")


async def test_a_refused_target_fails_the_run_with_the_reason(world, server, database) -> None:
    strict = Hub(Settings(webhook_allow_loopback=False), database)
    loose = Hub(Settings(webhook_allow_loopback=True), database)
    channel = await _channel(loose, world, ChannelKind.PULL_FEED, url=f"{server.url}/refused.csv")
    scheduler = Scheduler(strict, channel_ids={channel.id})
    await scheduler.sync()
    [run] = await scheduler.tick()
    assert run.status == "failed" and "refused" in (run.error or "") and server.gets == 0


async def test_channel_config_keeps_the_schedule_in_step_and_run_now_leases_it(hub, world, server) -> None:
    server.body = "sku,quantity\n"
    channel = await _channel(hub, world, ChannelKind.PULL_FEED, url=f"{server.url}/step.csv")
    scheduler = Scheduler(hub, channel_ids={channel.id})
    await scheduler.sync()
    await transaction(
        hub.db,
        lambda uow: channels.update_channel(
            uow,
            _admin(world),
            channel.id,
            {"config": {"pull": {"every_minutes": 2}, "reconcile_every_minutes": 60}},
            expected_version=None,
            targets=hub.settings.target_policy(),
        ),
    )
    await scheduler.sync()
    jobs = await transaction(hub.db, lambda uow: uow.schedules.all(channel_ids=[channel.id]), readonly=True)
    assert sorted((j.kind, j.every_seconds, j.enabled) for j in jobs) == [
        ("pull_feed", 120, True),
        ("reconcile", 3600, True),
    ]
    server.gate = asyncio.Event()  # the first run stays in flight until the second is refused
    claimed, task = await scheduler.run_now(_admin(world), channel.id, "pull_feed")
    with pytest.raises(Exception) as busy:
        await scheduler.run_now(_admin(world), channel.id, "pull_feed")
    assert "running now" in str(busy.value)
    server.gate.set()
    assert (await task).status == "succeeded"
    assert [r.trigger for r in await _runs(hub, channel)] == ["manual"]
    await transaction(
        hub.db,
        lambda uow: channels.update_channel(
            uow, _admin(world), channel.id, {"status": "paused"}, expected_version=None
        ),
    )
    await scheduler.sync()
    listed = await transaction(
        hub.db, lambda uow: schedules.list_schedules(uow, _admin(world)), readonly=True
    )
    mine = [j for j in listed if j.channel_id == channel.id]
    assert len(mine) == 2 and not any(j.enabled for j in mine)
    assert await scheduler.tick(datetime.now(UTC) + timedelta(days=1)) == []
    # Another partner sees none of them.
    other = replace(world.actor_c, scopes=frozenset({Scope.CHANNELS_ADMIN}))
    theirs = await transaction(hub.db, lambda uow: schedules.list_schedules(uow, other), readonly=True)
    assert not [j for j in theirs if j.channel_id == channel.id]


async def test_a_scheduled_reconciliation_reads_the_pull_feed(hub, world, server) -> None:
    await _set_stock(hub, world, 10)
    server.body = f"sku,quantity\n{world.product.sku},10\n"
    channel = await _channel(
        hub,
        world,
        ChannelKind.PULL_FEED,
        url=f"{server.url}/reconcile.csv",
        config={"reconcile_every_minutes": 60},
    )
    scheduler = Scheduler(hub, channel_ids={channel.id})
    await scheduler.sync()
    results = await scheduler.tick()
    by_status = sorted(r.status for r in results)
    assert by_status == ["succeeded", "succeeded"]  # the pull and the reconciliation
    runs = {r.kind: r for r in await _runs(hub, channel)}
    assert set(runs) == {"pull_feed", "reconcile"}
    assert runs["reconcile"].counts["items_read"] == 1, runs["reconcile"]
