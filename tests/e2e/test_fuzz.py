"""Schemathesis fuzzes every operation from the OpenAPI spec against the real server:
whatever a client sends, the hub must not answer with a 5xx (the SSE stream excepted:
it is endless by design and tested on its own)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import Server


@pytest.mark.parametrize("who", ["admin", "nailco"])
def test_no_input_makes_the_server_fail(scratch_server: Server, who: str, tmp_path: Path) -> None:
    server = scratch_server
    cli = shutil.which("schemathesis") or str(Path(sys.executable).parent / "schemathesis")
    result = subprocess.run(
        [
            cli,
            "run",
            f"{server.base_url}/openapi.json",
            "-H",
            f"Authorization: Bearer {server.keys[who]}",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            os.environ.get("PRODUCTSYNC_FUZZ_EXAMPLES", "25"),
            "--seed",
            "20261123",
            "-w",
            "2",
            "--no-color",
            # An endless event stream never completes a response; tests/e2e/test_sync.py
            # covers it (and its bad Last-Event-ID answer).
            "--exclude-path",
            "/v1/stream",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert re.search(r"\d+ generated, \d+ passed", result.stdout), result.stdout[-3000:]
