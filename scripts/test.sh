#!/usr/bin/env bash
# Install productsync with its test tools and run every check and the whole test suite.
# PostgreSQL-backed tests skip when the server is unreachable, unless
# PRODUCTSYNC_REQUIRE_SERVICES=1 (as in .ci/run), where they fail.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh test
echo "== ruff"
ruff check productsync tests bench
echo "== mypy"
mypy
echo "== import-linter (layers)"
lint-imports
echo "== pytest"
python -m pytest -p no:cacheprovider "$@"
