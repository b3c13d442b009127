"""Use cases. Each runs inside one unit of work; the caller's ``transaction`` commits it."""
