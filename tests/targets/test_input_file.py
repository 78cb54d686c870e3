"""Input files: one target per line with comments, or a Citizen Lab test-list CSV."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import pytest

from probe.errors import TargetError
from probe.models.targets import Target, TargetKind
from probe.targets import Catalogue, InputLine, parse_targets, read_input_file
from probe.targets.parse import CITIZEN_LAB_HEADER

# A few rows in the format of citizenlab/test-lists lists/kz.csv.
KZ_ROWS = [
    ("https://www.azattyq.org/", "NEWS", "News Media", "2017-06-14", "citizenlab", ""),
    ("http://kaspi.kz/path?q=1", "COMM", "E-commerce", "2022-01-08", "", "whitelisted Jan 2022"),
    ("https://пример.рф/", "CULTR", "Culture", "2023-06-01", "", 'quoted, with "commas"'),
]


def _write_csv(path: Path, rows: Sequence[tuple[str, ...]], *, bom: bool = False) -> None:
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CITIZEN_LAB_HEADER)
        writer.writerows(rows)


def test_lines_skip_blanks_and_comments(tmp_path: Path) -> None:
    path = tmp_path / "targets.txt"
    path.write_text(
        "# platforms first\n\ntwitter\n  whatsapp  \n   # indented comment\n"
        "kaspi.kz  # the bank\nhttps://example.com/#fragment\n",
        encoding="utf-8",
    )
    lines = read_input_file(path)
    assert lines == ["twitter", "whatsapp", "kaspi.kz", "https://example.com/#fragment"]
    assert [line.location for line in lines if isinstance(line, InputLine)] == [
        f"{path}:3",
        f"{path}:4",
        f"{path}:6",
        f"{path}:7",
    ]


def test_empty_file_has_no_targets(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_text("\n# nothing\n", encoding="utf-8")
    assert read_input_file(path) == []


@pytest.mark.parametrize("bom", [False, True], ids=["plain", "with_bom"])
def test_citizen_lab_csv_keeps_url_and_category(
    tmp_path: Path, catalogue: Catalogue, bom: bool
) -> None:
    path = tmp_path / "kz.csv"
    _write_csv(path, KZ_ROWS, bom=bom)
    lines = read_input_file(path)
    assert lines == [row[0] for row in KZ_ROWS]
    targets = parse_targets(lines, catalogue)
    assert all(isinstance(t, Target) for t in targets)
    got = [(t.input, t.kind, t.category_code) for t in targets if isinstance(t, Target)]
    assert got == [(row[0], TargetKind.URL, row[1]) for row in KZ_ROWS]


def test_citizen_lab_csv_bad_row_names_file_and_line(tmp_path: Path, catalogue: Catalogue) -> None:
    path = tmp_path / "kz.csv"
    _write_csv(path, [KZ_ROWS[0], ("ftp://files.kz/", "FILE", "", "", "", ""), KZ_ROWS[1]])
    parsed = parse_targets(read_input_file(path), catalogue)
    assert [type(p) for p in parsed] == [Target, TargetError, Target]
    assert str(parsed[1]).startswith(f"{path}:3: target 'ftp://files.kz/': unsupported scheme")


def test_citizen_lab_csv_row_without_url_is_an_error_not_a_skip(
    tmp_path: Path, catalogue: Catalogue
) -> None:
    path = tmp_path / "kz.csv"
    _write_csv(path, [("", "NEWS", "News Media", "", "", ""), ("", "", "", "", "", "")])
    parsed = parse_targets(read_input_file(path), catalogue)
    assert len(parsed) == 1
    assert str(parsed[0]) == f"{path}:2: target '': empty target"


def test_line_file_errors_name_file_and_line(tmp_path: Path, catalogue: Catalogue) -> None:
    path = tmp_path / "targets.txt"
    path.write_text("twitter\nfoo\n", encoding="utf-8")
    parsed = parse_targets(read_input_file(path), catalogue)
    assert isinstance(parsed[0], Target)
    assert str(parsed[1]).startswith(f"{path}:2: target 'foo': unknown platform")


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="cannot read the input file"):
        read_input_file(tmp_path / "absent.txt")


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("café.fr\n".encode("latin-1"))
    with pytest.raises(TargetError, match="not UTF-8"):
        read_input_file(path)
