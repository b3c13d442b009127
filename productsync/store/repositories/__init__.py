"""Repositories: translate between tables and domain objects over one connection."""
