"""The rejected rows of an import, written as they come (never kept in memory) in the
input's own format with a ``reason`` column naming line, column and why, so a user
fixes the file and imports just that (as Akeneo's "invalid data" file)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import IO, Any

from productsync.domain.imports import FileFormat, RowError


def reason_text(errors: list[RowError]) -> str:
    return "; ".join(e.text() for e in errors)


class RejectedWriter:
    def __init__(self, path: Path | None, fmt: FileFormat, header: list[str]) -> None:
        self.fmt = fmt
        self.header = header
        self._file: IO[str] | None = None
        self._csv: Any = None
        if path is not None:
            self._file = path.open("w", encoding="utf-8", newline="")
            if fmt is FileFormat.CSV:
                self._csv = csv.writer(self._file)
                self._csv.writerow([*header, "reason"])

    def write(self, line: int, source: Any, errors: list[RowError]) -> None:
        if self._file is None:
            return
        reason = reason_text(errors)
        if self.fmt is FileFormat.CSV:
            fields = list(source) if isinstance(source, list) else [""] * len(self.header)
            fields = (fields + [""] * len(self.header))[: len(self.header)]
            self._csv.writerow([*fields, reason])
        else:
            obj = dict(source) if isinstance(source, dict) else {}
            obj["reason"] = reason
            obj["line"] = line
            self._file.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")

    def file_error(self, errors: list[RowError]) -> None:
        """The file as a whole was refused (its header): one line saying why."""
        self.write(1, None, errors)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
