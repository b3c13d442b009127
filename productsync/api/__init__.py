"""HTTP adapter: FastAPI routers translate requests into use cases and results into JSON."""
