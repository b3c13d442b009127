"""A realistic demo hub: a nail-polish brand and an alcohol curator sharing catalogs,
a sports shop, three locations, ~50 products with valid GTINs, stock, and EUR/USD
price lists with a running promotion. Every row goes through the use cases, so the
demo also fills the audit log and the event stream."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from stdnum import ean

from productsync.bootstrap import start_hub
from productsync.config import Settings
from productsync.domain.access import Scope, system_actor
from productsync.domain.catalog import NewProduct, Partner, Product, TaxClass
from productsync.domain.inventory import Location, LocationKind, MovementKind
from productsync.domain.pricing import PriceEntry, PriceListKind
from productsync.services import access, catalog, locations, partners, pricing, stock
from productsync.store.database import Database
from productsync.store.uow import UnitOfWork, transaction

ACTOR = system_actor("demo")

SHADES = [
    "Cherry Red",
    "Midnight Blue",
    "Nude Rose",
    "Coral Crush",
    "Forest Green",
    "Lilac Haze",
    "Pearl White",
    "Jet Black",
    "Golden Hour",
    "Berry Kiss",
    "Sky Glitter",
    "Peach Fizz",
    "Mocha",
    "Ruby Matte",
    "Mint Sorbet",
    "Lavender Mist",
    "Copper Shine",
    "Ocean Breeze",
]
SPIRITS = [
    ("Juniper Dry Gin", 41.5, "gin"),
    ("Highland 12y Single Malt", 43.0, "whisky"),
    ("Smoky Islay Malt", 46.0, "whisky"),
    ("Barrel Aged Rum", 40.0, "rum"),
    ("Orchard Pear Brandy", 38.0, "brandy"),
    ("Citrus Navy Gin", 57.0, "gin"),
    ("Agave Blanco", 38.0, "tequila"),
    ("Alpine Herbal Liqueur", 32.0, "liqueur"),
    ("Rye Small Batch", 45.0, "whiskey"),
    ("Pink Rhubarb Gin", 37.5, "gin"),
    ("Vintage Port 2011", 20.0, "port"),
    ("Cold Brew Coffee Liqueur", 25.0, "liqueur"),
    ("Elderflower Spritz", 8.0, "aperitif"),
    ("Cask Strength Bourbon", 60.2, "whiskey"),
]
SPORTS = [
    ("Trail Running Shoe", "42", "mesh"),
    ("Yoga Mat Pro", "183x61cm", "TPE"),
    ("Carbon Tennis Racket", "L2", "carbon"),
    ("Climbing Harness", "M", "nylon"),
    ("Cycling Jersey", "L", "polyester"),
    ("Football Match Ball", "5", "PU leather"),
    ("Kettlebell 16kg", "16kg", "cast iron"),
    ("Ski Goggles", "one size", "polycarbonate"),
    ("Swim Goggles", "one size", "silicone"),
    ("Hiking Backpack 30L", "30L", "ripstop"),
    ("Resistance Band Set", "set", "latex"),
    ("Basketball Indoor", "7", "composite"),
    ("Padel Racket", "standard", "EVA foam"),
    ("Running Socks", "39-42", "merino"),
    ("Foam Roller", "45cm", "EPP"),
]


@dataclass
class DemoResult:
    summary: str
    keys: list[tuple[str, str]]


def _gtin13(company: str, item: int) -> str:
    body = f"{company}{item:0{12 - len(company)}d}"
    return body + ean.calc_check_digit(body)


async def seed_demo(settings: Settings) -> DemoResult:
    hub = await start_hub(settings)
    try:
        seeded = await transaction(hub.db, lambda uow: uow.partners.get_by_code("nailco"))
        if seeded is None:
            summary = await _seed(hub.db)
        else:
            summary = "already seeded earlier; new keys minted"
        keys = await transaction(hub.db, _mint_keys)
        return DemoResult(summary, keys)
    finally:
        await hub.close()


async def _mint_keys(uow: UnitOfWork) -> list[tuple[str, str]]:
    keys = []
    _, admin = await access.create_key(uow, ACTOR, partner_id=None, scopes=(Scope.ADMIN,), name="demo admin")
    keys.append(("admin", admin))
    for code in ("nailco", "spirits-curator", "peak-sports"):
        p = await uow.partners.get_by_code(code)
        assert p is not None
        scopes = (*access.PARTNER_DEFAULT_SCOPES, Scope.CHANNELS_ADMIN)
        _, token = await access.create_key(uow, ACTOR, partner_id=p.id, scopes=scopes, name=f"demo {code}")
        keys.append((f"{code} ({p.name})", token))
    return keys


async def _seed(db: Database) -> str:
    rng = random.Random(20261123)

    async def setup(uow: UnitOfWork) -> tuple[Partner, Partner, Partner, Location, Location, Location]:
        nail = await partners.create_partner(uow, ACTOR, code="nailco", name="NailCo Lacquers")
        spirits = await partners.create_partner(uow, ACTOR, code="spirits-curator", name="Curated Spirits")
        sports = await partners.create_partner(uow, ACTOR, code="peak-sports", name="Peak Sports")
        await partners.share_catalog(uow, ACTOR, owner_id=nail.id, grantee_id=spirits.id)
        await partners.share_catalog(uow, ACTOR, owner_id=spirits.id, grantee_id=nail.id)
        hub_wh = await locations.create_location(
            uow,
            ACTOR,
            code="WH-BERLIN",
            name="Berlin fulfilment centre",
            kind=LocationKind.WAREHOUSE,
            owner_partner_id=None,
        )
        shop = await locations.create_location(
            uow,
            ACTOR,
            code="STORE-MUNICH",
            name="NailCo flagship Munich",
            kind=LocationKind.STORE,
            owner_partner_id=nail.id,
        )
        peak = await locations.create_location(
            uow,
            ACTOR,
            code="WH-PEAK",
            name="Peak Sports warehouse",
            kind=LocationKind.WAREHOUSE,
            owner_partner_id=sports.id,
        )
        return nail, spirits, sports, hub_wh, shop, peak

    nail, spirits, sports, hub_wh, shop, peak = await transaction(db, setup)

    async def add_products(uow: UnitOfWork) -> list[Product]:
        cats = {c.code: c for c in await catalog.list_categories(uow)}
        made = []
        for i, shade in enumerate(SHADES, start=1):
            made.append(
                await catalog.create_product(
                    uow,
                    ACTOR,
                    NewProduct(
                        sku=f"COS-NP-{i:03d}",
                        name=f"Gel Polish {shade}",
                        category_id=cats["cosmetics"].id,
                        owner_partner_id=nail.id,
                        barcodes=[_gtin13("4260123", i)],
                        description="Long-wear gel-effect nail polish, 21 days shine.",
                        texts={
                            "de-DE": {"name": f"Gel-Nagellack {shade}"},
                            "fr-FR": {"name": f"Vernis gel {shade}"},
                        },
                        attributes={
                            "ingredients": ["butyl acetate", "ethyl acetate", "nitrocellulose"],
                            "volume_ml": 12,
                            "pao_months": 24,
                            "shade": shade,
                            "vegan": i % 3 != 0,
                            "finish": ["gloss", "matte", "shimmer"][i % 3],
                        },
                    ),
                )
            )
        for i, (name, abv, style) in enumerate(SPIRITS, start=1):
            made.append(
                await catalog.create_product(
                    uow,
                    ACTOR,
                    NewProduct(
                        sku=f"ALC-{style[:3].upper()}-{i:03d}",
                        name=name,
                        category_id=cats["alcohol"].id,
                        owner_partner_id=spirits.id,
                        barcodes=[_gtin13("50123", i)],
                        tax_class=TaxClass.ALCOHOL,
                        texts={"en-US": {"name": name}},
                        attributes={
                            "abv": abv,
                            "volume_ml": 700,
                            "age_restricted": True,
                            "min_age": 18,
                            "style": style,
                        },
                    ),
                )
            )
        for i, (name, size, material) in enumerate(SPORTS, start=1):
            made.append(
                await catalog.create_product(
                    uow,
                    ACTOR,
                    NewProduct(
                        sku=f"SE-{i:04d}",
                        name=name,
                        category_id=cats["sports"].id,
                        owner_partner_id=sports.id,
                        barcodes=[_gtin13("0036000", i)[1:]] if i % 4 == 0 else [_gtin13("4006381", i)],
                        attributes={"size": size, "material": material},
                    ),
                )
            )
        return made

    products = await transaction(db, add_products)

    async def add_stock(uow: UnitOfWork) -> None:
        for p in products:
            places = [peak] if p.owner_partner_id == sports.id else [hub_wh]
            if p.owner_partner_id == nail.id:
                places.append(shop)
            for loc in places:
                # Polish is lot-tracked: every receipt names its lot and expiry date.
                lot = p.owner_partner_id == nail.id
                await stock.adjust_stock(
                    uow,
                    ACTOR,
                    location_id=loc.id,
                    product_id=p.id,
                    delta=Decimal(rng.randint(5, 120)),
                    kind=MovementKind.RECEIPT,
                    reason="demo opening stock",
                    lot_number=f"L{rng.randint(1000, 9999)}" if lot else None,
                    expires_on=(uow.now + timedelta(days=rng.randint(45, 720))).date() if lot else None,
                )

    await transaction(db, add_stock)

    async def add_prices(uow: UnitOfWork) -> None:
        eur = await pricing.create_price_list(
            uow,
            ACTOR,
            name="Retail EU (EUR)",
            currency="EUR",
            kind=PriceListKind.RETAIL,
            region="EU",
            owner_partner_id=None,
        )
        usd = await pricing.create_price_list(
            uow,
            ACTOR,
            name="Retail US (USD)",
            currency="USD",
            kind=PriceListKind.RETAIL,
            region="US",
            owner_partner_id=None,
        )
        partner_list = await pricing.create_price_list(
            uow,
            ACTOR,
            name="Curated Spirits partner prices (EUR)",
            currency="EUR",
            kind=PriceListKind.PARTNER,
            region="DE",
            owner_partner_id=spirits.id,
        )
        now = uow.now
        promo_from, promo_to = now - timedelta(days=1), now + timedelta(days=6)
        for p in products:
            base = Decimal(rng.choice(["9.90", "12.50", "14.90", "34.90", "49.00", "89.00"]))
            entries = [
                PriceEntry(Decimal(1), base),
                PriceEntry(Decimal(6), (base * Decimal("0.9")).quantize(Decimal("0.01"))),
            ]
            if p.sku.startswith("COS-NP-00"):  # a week-long Black Week promotion on the first polishes
                entries.append(
                    PriceEntry(
                        Decimal(1), (base * Decimal("0.8")).quantize(Decimal("0.01")), promo_from, promo_to
                    )
                )
            await pricing.put_prices(uow, ACTOR, eur.id, p.id, entries)
            usd_amount = (base * Decimal("1.08")).quantize(Decimal("0.01"))
            await pricing.put_prices(uow, ACTOR, usd.id, p.id, [PriceEntry(Decimal(1), usd_amount)])
            if p.owner_partner_id == nail.id:
                await pricing.put_prices(
                    uow,
                    ACTOR,
                    partner_list.id,
                    p.id,
                    [PriceEntry(Decimal(12), (base * Decimal("0.55")).quantize(Decimal("0.01")))],
                )

    await transaction(db, add_prices)
    return (
        f"3 partners (nailco <-> spirits-curator share catalogs), 3 locations, {len(products)} products, "
        "stock, EUR/USD retail lists with a running promotion, a partner price list"
    )
