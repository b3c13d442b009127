"""Tables: scheduled jobs (leader-claimed) and feed runs.

Kept out of ``tables.py`` (one module per area); registered on the same ``metadata``,
which ``tables.py`` imports at its end so Alembic and the schema tests see them.
"""

from __future__ import annotations

from productsync.store.tables import metadata  # noqa: F401 - tables of this area are defined on it
