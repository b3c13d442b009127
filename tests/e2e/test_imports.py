"""Bulk import over HTTP: upload (multipart and raw), poll the job, download the
rejected rows with their reasons; partner isolation and bad uploads as 4xx."""

from __future__ import annotations

import csv
import io
import time
import uuid

import httpx

from tests.e2e.conftest import Server

ATTRS = '"{""size"": ""M"", ""material"": ""steel""}"'


def _wait(c: httpx.Client, job_id: str) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = c.get(f"/v1/imports/{job_id}").json()
        if job["status"] in ("succeeded", "failed"):
            return job  # type: ignore[no-any-return]
        time.sleep(0.2)
    raise AssertionError(f"import {job_id} did not finish in 60 s")


def _file(prefix: str) -> str:
    return (
        "sku,name,category,attributes,location,on_hand\n"
        f"{prefix}1,Good racket,sports,{ATTRS},WH-BERLIN,4\n"
        f"{prefix}2,Bad count,sports,{ATTRS},WH-BERLIN,-1\n"
        f"{prefix}3,No such category,nosuch,{ATTRS},WH-BERLIN,1\n"
    )


def test_an_uploaded_file_runs_as_a_job_and_its_rejected_rows_download(server: Server) -> None:
    prefix = f"SE-IMP{uuid.uuid4().hex[:6].upper()}-"
    with server.client("nailco") as c:
        made = c.post(
            "/v1/imports",
            params={"error_policy": "skip_failed"},
            files={"file": ("rackets.csv", _file(prefix), "text/csv")},
        )
        assert made.status_code == 202, made.text
        assert made.headers["location"] == f"/v1/imports/{made.json()['id']}"
        job = _wait(c, made.json()["id"])
        assert job["status"] == "succeeded", job
        assert job["kind"] == "products" and job["rejected"] == 2
        assert (
            job["progress"]["rows"] == 3 and job["progress"]["bytes_read"] == job["progress"]["total_bytes"]
        )
        assert job["report"]["counts"]["products"]["created"] == 1
        assert job["report"]["counts"]["stock"]["created"] == 1
        listed = c.get("/v1/products", params={"sku": prefix}).json()["items"]
        assert [p["sku"] for p in listed] == [f"{prefix}1"]
        rejected = c.get(f"/v1/imports/{job['id']}/rejected")
        assert rejected.status_code == 200 and rejected.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(rejected.text)))
        assert [r["sku"] for r in rows] == [f"{prefix}2", f"{prefix}3"]
        assert rows[0]["reason"].startswith("line 3, column on_hand:")
        assert rows[1]["reason"].startswith("line 4, column category:")
        # Another partner does not see the job at all.
    with server.client("spirits-curator") as other:
        assert other.get(f"/v1/imports/{job['id']}").status_code == 404


def test_a_raw_body_upload_under_reject_all_writes_nothing(server: Server) -> None:
    prefix = f"SE-IMP{uuid.uuid4().hex[:6].upper()}-"
    with server.client("nailco") as c:
        made = c.post("/v1/imports", content=_file(prefix), headers={"Content-Type": "text/csv"})
        assert made.status_code == 202, made.text
        job = _wait(c, made.json()["id"])
        assert job["status"] == "succeeded" and job["report"]["written"] is False
        assert {(e["line"], e["column"]) for e in job["report"]["errors"]} == {
            (3, "on_hand"),
            (4, "category"),
        }
        assert c.get("/v1/products", params={"sku": prefix}).json()["items"] == []


def test_bad_uploads_are_problems_not_server_errors(server: Server) -> None:
    with server.client("nailco") as c:
        empty = c.post("/v1/imports", content=b"", headers={"Content-Type": "text/csv"})
        assert empty.status_code == 422 and empty.headers["content-type"] == "application/problem+json"
        unknown = c.post(
            "/v1/imports", content=b"what,is,this\n1,2,3\n", headers={"Content-Type": "text/csv"}
        )
        assert unknown.status_code == 422, unknown.text
        assert c.get(f"/v1/imports/{uuid.uuid4()}").status_code == 404
    assert httpx.post(f"{server.base_url}/v1/imports", content=b"sku\n").status_code == 401
