"""Product aliases: the codes suppliers, warehouses and marketplaces know a product by.
Unique per owner partner and (scheme, code), like SKUs: two partners may register the
same code, and neither is told of the other. A lookup resolves among the products the
caller may see (``domain.alias_namespaces``); kept by the product's owner."""

from __future__ import annotations

import uuid

from productsync.domain.access import Actor, Scope
from productsync.domain.alias_namespaces import choose_alias
from productsync.domain.errors import Conflict, ErrorCode, InvalidInput, NotFound
from productsync.domain.identifiers import normalize_alias
from productsync.services.recording import record
from productsync.store.uow import UnitOfWork

MAX_ALIASES = 100


async def set_aliases(
    uow: UnitOfWork, actor: Actor, product_id: uuid.UUID, raw: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """Replace a product's aliases with ``raw``: all or nothing, every bad row named."""
    actor.require(Scope.CATALOG_WRITE)
    product = await uow.products.get(product_id, for_update=True)
    if product is None or not actor.can_read(product.owner_partner_id):
        raise NotFound("product", product_id)
    actor.check_write(product.owner_partner_id, "product", product_id)
    if len(raw) > MAX_ALIASES:
        raise InvalidInput(f"at most {MAX_ALIASES} aliases per product", field="aliases")
    errors: list[dict[str, object]] = []
    aliases: list[tuple[str, str]] = []
    for i, (scheme, code) in enumerate(raw):
        try:
            alias = normalize_alias(scheme, code)
        except InvalidInput as exc:
            errors.append({"index": i, "detail": exc.detail})
            continue
        if alias in aliases:
            errors.append({"index": i, "detail": f"{alias[0]}:{alias[1]} is listed twice"})
            continue
        aliases.append(alias)
    if errors:
        raise InvalidInput(f"{len(errors)} alias(es) refused; nothing was changed", errors=errors)
    owned = await uow.aliases.owners(product.owner_partner_id, aliases)
    taken = {a: pid for a, pid in owned.items() if pid != product.id}
    if taken:
        names = sorted(f"{s}:{c}" for s, c in taken)
        raise Conflict(
            f"aliases already name another product of this partner: {names}",
            code=ErrorCode.DUPLICATE,
            aliases=names,
        )
    before = await uow.aliases.for_product(product.id)
    await uow.aliases.replace_for_product(product.id, product.owner_partner_id, aliases, uow.now)
    await record(
        uow,
        actor,
        action="product.aliases_set",
        entity_type="product",
        entity_id=product.id,
        owner=product.owner_partner_id,
        before={"aliases": [f"{s}:{c}" for s, c in before]},
        after={"aliases": [f"{s}:{c}" for s, c in aliases]},
    )
    return aliases


async def get_aliases(uow: UnitOfWork, actor: Actor, product_id: uuid.UUID) -> list[tuple[str, str]]:
    actor.require(Scope.CATALOG_READ)
    product = await uow.products.get(product_id)
    if product is None or not actor.can_read(product.owner_partner_id):
        raise NotFound("product", product_id)
    return await uow.aliases.for_product(product.id)


async def resolve_alias(
    uow: UnitOfWork, actor: Actor, scheme: str, code: str, *, partner: str | None = None
) -> uuid.UUID:
    """The product an alias names among those the caller may see: 404 if none, 409
    ``ambiguous-alias`` with candidates if several partners' (``partner`` settles it)."""
    actor.require(Scope.CATALOG_READ)
    s, c = normalize_alias(scheme, code)
    owners = actor.readable_owners()
    found = await uow.aliases.candidates(s, c, owners)
    return choose_alias(f"{s}:{c}", found, readable=owners, partner=partner).product_id
