"""Persistence: tables, repositories, unit of work, migrations. The only place that writes SQL."""
