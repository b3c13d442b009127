"""Request and response shapes of the HTTP API, one module per resource.

They are separate from domain objects and tables (STYLE.md, "separate shapes"):
routers import them from their resource's module, e.g.
``from productsync.api.schemas.products import ProductOut``. Shared pieces
(``Problem``, ``Input``, ``Page``, ``PROBLEM_RESPONSES``, the quantity and amount
types) live in ``common``. An ``Out`` model whose fields are a domain object's own
is built with ``model_validate(obj)`` (``from_attributes``), so its field list is
written once, in the model.
"""
