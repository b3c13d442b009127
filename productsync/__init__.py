"""productsync: one source of truth for catalog, stock and prices, synced to every channel."""

__version__ = "0.1.0"
