"""Bulk import over HTTP: upload a file, poll its job, download the rejected rows.

The upload (multipart field ``file``, or the raw request body) is streamed to a file
under the data directory, never held in memory; the import then runs as a task of this
process (``services/import_jobs.py``). The body guard lets these uploads through
unbuffered (``STREAMED_WRITES``) once the key is authenticated.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy.engine import make_url
from starlette.requests import ClientDisconnect

from productsync.api.deps import ActorDep, HubDep, request_id
from productsync.api.schemas.common import PROBLEM_RESPONSES
from productsync.api.schemas.imports import ImportJobOut
from productsync.config import Settings
from productsync.domain.errors import Conflict, DomainError, InvalidInput, NotFound
from productsync.domain.import_formats import guess_format, is_shopify, open_records
from productsync.domain.imports import ErrorPolicy, FileFormat, ImportKind, infer_kind
from productsync.services import import_jobs
from productsync.services.imports import ImportOptions
from productsync.store.uow import transaction

router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES, tags=["imports"])
_RUNNING: set[asyncio.Task[None]] = set()
_CHUNK = 1 << 16
_TYPES = {
    "text/csv": FileFormat.CSV,
    "application/x-ndjson": FileFormat.JSONL,
    "application/jsonl": FileFormat.JSONL,
}


def import_dir(settings: Settings) -> Path:
    """Where uploads and rejected files live: $PRODUCTSYNC_DATA_DIR/imports, else beside
    the SQLite database, else the system's temporary directory."""
    base = os.environ.get("PRODUCTSYNC_DATA_DIR")
    if base:
        root = Path(base)
    elif settings.database_url.startswith("sqlite"):
        root = Path(make_url(settings.database_url).database or ".").resolve().parent
    else:
        root = Path(tempfile.gettempdir()) / "productsync"
    folder = root / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def _save(request: Request, target: Path) -> tuple[str | None, str | None]:
    """Stream the upload to ``target``; returns (file name, content type) of the file."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=20)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise InvalidInput("send the file in the multipart field 'file'", field="file")
        with target.open("wb") as out:
            while chunk := await upload.read(_CHUNK):
                out.write(chunk)
        await upload.close()
        return upload.filename, (upload.content_type or "").split(";")[0].strip().lower()
    try:
        with target.open("wb") as out:
            async for chunk in request.stream():
                out.write(chunk)
    except ClientDisconnect as exc:
        raise InvalidInput("the upload was interrupted before its end") from exc
    return None, media


def _kind_of(path: Path, fmt: FileFormat) -> ImportKind:
    """The kind from the file's header, read now so a key without the scope hears 403
    at once rather than from a failed job."""
    with path.open(encoding="utf-8", errors="replace", newline="") as f:
        header = open_records(f, fmt).header
    if fmt is FileFormat.CSV and is_shopify(header):
        return ImportKind.PRODUCTS
    if not header:
        raise InvalidInput("the upload has no header row (or first JSON object)")
    try:
        return infer_kind(header)
    except DomainError as exc:
        raise InvalidInput(exc.detail) from exc


@router.post("/imports", status_code=202, response_model=ImportJobOut)
async def create_import(
    request: Request,
    hub: HubDep,
    actor: ActorDep,
    kind: Annotated[ImportKind | None, Query(description="Inferred from the header when absent.")] = None,
    format: Annotated[FileFormat | None, Query(description="From the file name, type or content.")] = None,  # noqa: A002
    error_policy: ErrorPolicy = ErrorPolicy.REJECT_ALL,
    dry_run: bool = False,
    partner: Annotated[str | None, Query(max_length=40)] = None,
    location: Annotated[str | None, Query(max_length=40)] = None,
    price_list: Annotated[str | None, Query(max_length=200)] = None,
    category: Annotated[str | None, Query(max_length=40)] = None,
) -> JSONResponse:
    """Upload a CSV/JSONL file (or a Shopify product CSV export) and import it as a job
    (202). Poll ``GET /v1/imports/{id}``; rejected rows: ``GET /v1/imports/{id}/rejected``."""
    job_id = uuid.uuid4()
    folder = import_dir(hub.settings)
    upload = folder / f"{job_id}.upload"
    try:
        name, media = await _save(request, upload)
        size = upload.stat().st_size
        if size == 0:
            raise InvalidInput("the upload is empty", field="file")
        with upload.open("rb") as f:
            head = f.read(512)
        fmt = format or _TYPES.get(media or "") or guess_format(name, head)
        options = ImportOptions(
            kind=kind,
            fmt=fmt,
            dry_run=dry_run,
            error_policy=error_policy,
            partner=partner,
            location=location,
            price_list=price_list,
            category=category,
            job_id=job_id,
            rejected_path=folder / f"{job_id}.rejected.{fmt.value}",
        )
        found = kind or _kind_of(upload, fmt)
        job = await transaction(
            hub.db,
            lambda uow: import_jobs.create_job(
                uow, actor, job_id=job_id, kind=found, options=options, file_name=name, total_bytes=size
            ),
        )
    except BaseException:
        upload.unlink(missing_ok=True)
        raise
    body = ImportJobOut.of(job).model_dump(mode="json")
    task = asyncio.create_task(
        import_jobs.run_job(hub.db, actor, job_id, upload, options, request_id=request_id(request))
    )
    _RUNNING.add(task)
    task.add_done_callback(_RUNNING.discard)
    return JSONResponse(body, status_code=202, headers={"Location": f"/v1/imports/{job_id}"})


@router.get("/imports/{job_id}", response_model=ImportJobOut)
async def get_import(job_id: uuid.UUID, hub: HubDep, actor: ActorDep) -> Any:
    """Status, progress (rows, bytes of total), counts and the first errors of a job."""
    job = await transaction(hub.db, lambda uow: import_jobs.get_job(uow, actor, job_id), readonly=True)
    return ImportJobOut.of(job)


@router.get(
    "/imports/{job_id}/rejected",
    responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}},
)
async def get_rejected(job_id: uuid.UUID, hub: HubDep, actor: ActorDep) -> FileResponse:
    """The rejected rows in the input's format plus a ``reason`` column (line, column, why)."""
    job = await transaction(hub.db, lambda uow: import_jobs.get_job(uow, actor, job_id), readonly=True)
    if job["status"] in ("queued", "running"):
        raise Conflict("the import is still running; ask again when it has finished")
    path = import_dir(hub.settings) / f"{job_id}.rejected.{job['format']}"
    if not path.is_file():
        raise NotFound("rejected rows of import", job_id)
    media = "text/csv" if job["format"] == "csv" else "application/x-ndjson"
    return FileResponse(path, media_type=media, filename=f"import-{job_id}-rejected.{job['format']}")
