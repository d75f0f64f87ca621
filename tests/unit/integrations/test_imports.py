"""Reading an import file: records, line numbers and per-line errors, without a database."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from leadcapture.integrations.csvrows import FileError, read_rows
from leadcapture.integrations.imports import InvalidRow, parse_time

HEADER = b"email,purpose,consented_at,source,lawful_basis\n"


def rows(data: bytes):
    return list(read_rows(io.BytesIO(data)))


def test_a_record_is_numbered_by_its_first_line_and_blank_lines_are_skipped():
    found = rows(HEADER + b'a@x.nl,n,2026-01-01,"two\nlines",consent\n\n\nb@x.nl,n,2026-01-01,s,consent\n')
    assert [(r.line, r.cells["email"], r.error) for r in found] == [(2, "a@x.nl", None), (6, "b@x.nl", None)]
    assert found[0].cells["source"] == "two\nlines"


def test_semicolons_are_the_separator_when_the_header_uses_them():
    (row,) = rows(b"\xef\xbb\xbfEmail;Purpose;Consented_at;Source;Lawful basis\r\na@x.nl;n;2026-01-01;s,t;consent\r\n")
    assert row.cells == {
        "email": "a@x.nl",
        "purpose": "n",
        "consented_at": "2026-01-01",
        "source": "s,t",
        "lawful_basis": "consent",
    }


def test_a_bad_line_inside_a_quoted_cell_makes_that_record_invalid_and_the_next_one_reads():
    data = HEADER + b'a@x.nl,n,2026-01-01,"one\n\xff\nthree",consent\nb@x.nl,n,2026-01-01,s,consent\n'
    first, second = rows(data)
    assert (first.line, first.error) == (2, "not UTF-8 (byte 0xff): save the file as CSV UTF-8")
    assert (second.line, second.error, second.cells["email"]) == (5, None, "b@x.nl")


def test_progress_is_reported_in_bytes_up_to_the_file_size():
    data = HEADER + b"a@x.nl,n,2026-01-01,s,consent\n" + b"b" * 20_000 + b"\n"
    seen = []
    list(read_rows(io.BytesIO(data), seen.append))
    assert sum(seen) == len(data)


def test_a_header_is_checked_before_any_row_is_read():
    with pytest.raises(FileError, match="a column appears twice"):
        rows(b"email,email,purpose,consented_at,source,lawful_basis\n")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-01", datetime(2026, 3, 1, tzinfo=UTC)),
        ("2026-03-01T14:30:00Z", datetime(2026, 3, 1, 14, 30, tzinfo=UTC)),
        ("2026-03-01 14:30+02:00", datetime(2026, 3, 1, 12, 30, tzinfo=UTC)),
    ],
)
def test_times_are_iso_8601_and_utc_unless_they_say_otherwise(text, expected):
    assert parse_time(text, datetime(2026, 6, 1, tzinfo=UTC)) == expected


def test_a_time_in_the_future_is_refused():
    with pytest.raises(InvalidRow, match="in the future"):
        parse_time("2026-06-02", datetime(2026, 6, 1, tzinfo=UTC))
