#!/usr/bin/env bash
# Install productsync, seed the demo into the embedded SQLite database and serve it.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
productsync demo --serve
