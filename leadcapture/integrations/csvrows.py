"""Reading an import file as a stream: UTF-8 lines, CSV records, the header, an error per bad line.

Nothing is read ahead: a record is parsed when it is asked for, a line is at most
MAX_LINE_BYTES (a longer one is skipped without being kept) and a cell at most csv's field
limit, so memory stays flat whatever the file's size.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

REQUIRED = ("email", "purpose", "consented_at", "source", "lawful_basis")
OPTIONAL = ("form", "form_version", "wording", "evidence")
MAX_LINE_BYTES = 16 * 1024


class FileError(ValueError):
    """The file as a whole cannot be read (encoding, header); nothing was imported."""


@dataclass(frozen=True)
class Row:
    """One record of the file: its first line number, its cells by column, or why it is unreadable."""

    line: int
    cells: dict[str, str]
    error: str | None = None


class _Lines:
    """The file's lines decoded one at a time; an unreadable line becomes empty and its error is kept."""

    def __init__(self, stream: BinaryIO, progress: Callable[[int], None] | None):
        self.stream, self.progress = stream, progress
        self.number = 0
        self.errors: dict[int, str] = {}

    def header(self) -> str:
        raw = self.stream.readline(MAX_LINE_BYTES + 1)
        if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            raise FileError("the file is UTF-16: save it as CSV UTF-8")
        if not raw.strip():
            raise FileError("the file is empty, or its first line is: it must be the header line")
        if len(raw) > MAX_LINE_BYTES:
            raise FileError(f"the header line is longer than {MAX_LINE_BYTES} bytes")
        self.number = 1
        if self.progress:
            self.progress(len(raw))
        try:
            return raw.removeprefix(codecs.BOM_UTF8).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FileError("the header line is not UTF-8: save the file as CSV UTF-8") from exc

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        raw = self.stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            raise StopIteration
        self.number += 1
        size, error, text = len(raw), None, "\n"
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while chunk := self.stream.readline(64 * 1024):  # skip the rest of the line without keeping it
                size += len(chunk)
                if chunk.endswith(b"\n"):
                    break
            error = f"the line is longer than {MAX_LINE_BYTES} bytes"
        elif b"\0" in raw:
            error = "the line contains a NUL byte (is this a spreadsheet file rather than CSV?)"
        else:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                error = f"not UTF-8 (byte 0x{raw[exc.start]:02x}): save the file as CSV UTF-8"
        if self.progress:
            self.progress(size)
        if error:
            self.errors[self.number] = error
        return text

    def error_between(self, first: int, last: int) -> str | None:
        """The first error of the lines first..last (a record may span lines), forgetting them."""
        found = [self.errors.pop(n) for n in range(first, last + 1) if n in self.errors]
        return found[0] if found else None


def _columns(header: list[str]) -> list[str]:
    names = [cell.strip().lower().replace(" ", "_").replace("-", "_") for cell in header]
    unknown = [n for n in names if n not in REQUIRED + OPTIONAL]
    missing = [n for n in REQUIRED if n not in names]
    if unknown or missing or len(set(names)) != len(names):
        problems = [f"unknown column(s) {', '.join(unknown)}"] if unknown else []
        problems += [f"missing column(s) {', '.join(missing)}"] if missing else []
        problems += ["a column appears twice"] if len(set(names)) != len(names) else []
        known = f"required: {', '.join(REQUIRED)}; optional: {', '.join(OPTIONAL)}"
        raise FileError(f"header line: {'; '.join(problems)} ({known})")
    return names


def read_rows(stream: BinaryIO, progress: Callable[[int], None] | None = None) -> Iterator[Row]:
    """The file's records one by one (blank lines skipped); FileError at once if the header is unusable."""
    lines = _Lines(stream, progress)
    first = lines.header()
    delimiter = ";" if first.count(";") > first.count(",") else ","
    names = _columns(next(csv.reader([first], delimiter=delimiter)))
    return _records(lines, names, delimiter)


def _records(lines: _Lines, names: list[str], delimiter: str) -> Iterator[Row]:
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    start = 2
    while True:
        try:
            record, error = next(reader), None
        except StopIteration:
            return
        except csv.Error as exc:
            record, error = [], f"not valid CSV ({exc})"
        error = lines.error_between(start, lines.number) or error
        if error is None and not any(cell.strip() for cell in record):
            start = lines.number + 1
            continue
        if error is None and len(record) != len(names):
            error = f"{len(record)} cells where the header has {len(names)}"
        yield Row(start, dict(zip(names, record, strict=False)) if error is None else {}, error)
        start = lines.number + 1
