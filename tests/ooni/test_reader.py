"""Reading files of OONI measurements: every framing OONI uses, and hostile files, record by
record, without ever raising."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probe.observe.ooni_reader import OoniRecord, read_records

from .measurements import CLASSIC_HTTPS, line, measurement


def _read(path: Path, **limits: int) -> list[tuple[int, str | None]]:
    return [(r.number, r.error) for r in read_records(path, **limits)]


def _write(tmp_path: Path, content: bytes, name: str = "m.json") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    ("name", "content", "numbers"),
    [
        ("single", json.dumps(CLASSIC_HTTPS).encode(), [1]),
        ("pretty_printed", json.dumps(CLASSIC_HTTPS, indent=2).encode(), [1]),
        ("array", json.dumps([CLASSIC_HTTPS] * 3).encode(), [1, 2, 3]),
        ("pretty_array", json.dumps([CLASSIC_HTTPS] * 2, indent=1).encode(), [1, 2]),
        ("json_lines", line(CLASSIC_HTTPS) * 2, [1, 2]),
        ("blank_lines", b"\n" + line(CLASSIC_HTTPS) + b"\n  \n" + line(CLASSIC_HTTPS), [2, 5]),
        ("crlf", json.dumps(CLASSIC_HTTPS).encode() + b"\r\n", [1]),
    ],
)
def test_every_framing_reads(tmp_path: Path, name: str, content: bytes, numbers: list[int]) -> None:
    records = list(read_records(_write(tmp_path, content)))
    got = [(r.number, r.error) for r in records]
    assert got == [(n, None) for n in numbers], f"{name}: expected records {numbers}, got {got}"
    assert all(r.measurement is not None for r in records), f"{name}: a record was not parsed"


def test_json_lines_mix_gives_per_line_errors(tmp_path: Path) -> None:
    truncated = line(CLASSIC_HTTPS)[:200] + b"\n"
    tor = {**CLASSIC_HTTPS, "test_name": "tor"}
    content = b"".join(
        [
            line(CLASSIC_HTTPS),
            truncated,
            b"[1, 2]\n",
            b'"a string"\n',
            line(tor),
            line({**CLASSIC_HTTPS, "test_keys": None}),
            b"\xff\xfe not utf-8\n",
            line(CLASSIC_HTTPS),
        ]
    )
    got = dict(_read(_write(tmp_path, content, "mix.jsonl")))
    expected = {
        1: None,
        2: "line 2: not JSON",
        3: "line 3: an array, not an object",
        4: "line 4: a string, not an object",
        5: "line 5: test_name 'tor', not web_connectivity",
        6: None,  # test_keys null: read, a measurement of nothing
        7: "line 7: not",
        8: None,
    }
    assert set(got) == set(expected), f"record numbers: expected {sorted(expected)}, got {got}"
    for number, wanted in expected.items():
        error = got[number]
        if wanted is None:
            assert error is None, f"line {number}: expected a measurement, got error {error!r}"
        else:
            assert error is not None and error.startswith(wanted), (
                f"line {number}: expected an error starting {wanted!r}, got {error!r}"
            )


def test_json_lines_whose_first_line_was_cut_after_a_comma(tmp_path: Path) -> None:
    # Read as one document this parses past line 1, yet it is JSON Lines with a broken line.
    content = b'{"test_name": "web_connectivity",\n' + line(CLASSIC_HTTPS) * 2
    got = _read(_write(tmp_path, content, "cut.jsonl"))
    assert [n for n, _ in got] == [1, 2, 3], got
    assert (got[0][1] or "").startswith("line 1: not JSON"), got
    assert got[1][1] is None and got[2][1] is None, got


def test_gzip_is_recognised_by_its_bytes(tmp_path: Path) -> None:
    # Two members, as `cat a.gz b.gz` makes: one gzip file.
    content = gzip.compress(line(CLASSIC_HTTPS)) + gzip.compress(line(CLASSIC_HTTPS) + b"{oops\n")
    got = _read(_write(tmp_path, content, "day.jsonl.gz"))
    assert [n for n, _ in got] == [1, 2, 3], got
    assert got[0][1] is None and got[1][1] is None, got
    assert (got[2][1] or "").startswith("line 3: not JSON"), got


def test_truncated_gzip_keeps_what_was_read(tmp_path: Path) -> None:
    lines = [
        line(measurement(padding=random.Random(index).randbytes(500).hex())) for index in range(20)
    ]
    content = gzip.compress(b"".join(lines))
    got = _read(_write(tmp_path, content[: len(content) // 2], "cut.jsonl.gz"))
    good = [n for n, error in got if error is None]
    assert good, f"no record read before the cut: {got}"
    number, error = got[-1]
    assert number == 0 and error is not None and "cannot read after line" in error, got


def test_oversized_line_is_skipped_and_reading_goes_on(tmp_path: Path) -> None:
    huge = measurement(padding="x" * 5000)
    content = line(CLASSIC_HTTPS) + line(huge) + line(CLASSIC_HTTPS)
    got = _read(_write(tmp_path, content, "big.jsonl"), record_limit=2048)
    assert got == [(1, None), (2, "line 2: longer than 0 MiB"), (3, None)], got


def test_the_default_cap_is_16_mib(tmp_path: Path) -> None:
    body = "x" * (16 * 1024 * 1024)
    content = line(measurement(padding=body)) + line(CLASSIC_HTTPS)
    got = _read(_write(tmp_path, content, "big.jsonl"))
    assert got == [(1, "line 1: longer than 16 MiB"), (2, None)], got


@pytest.mark.parametrize(
    ("name", "content", "error"),
    [
        ("empty", b"", "file: empty, no records"),
        ("blank", b"\n \n", "file: empty, no records"),
        ("broken_document", json.dumps(CLASSIC_HTTPS, indent=2).encode()[:-30], "file: not JSON"),
        ("too_deep", b"[" * 100_000 + b"]" * 100_000 + b"\n", "line 1: JSON nested too deeply"),
        ("binary", bytes(range(256)) * 4, "line 1: not"),
    ],
)
def test_hostile_files_give_one_clear_error(
    tmp_path: Path, name: str, content: bytes, error: str
) -> None:
    got = _read(_write(tmp_path, content))
    assert got and got[0][1] is not None and got[0][1].startswith(error), (
        f"{name}: expected an error starting {error!r}, got {got[:3]}"
    )


def test_document_over_its_cap_is_read_as_lines(tmp_path: Path) -> None:
    content = json.dumps([CLASSIC_HTTPS] * 3, indent=1).encode()
    got = _read(_write(tmp_path, content), document_limit=1024)
    assert got and all(error is not None for _, error in got), got
    assert got[0][0] == 1 and (got[0][1] or "").startswith("line 1: not JSON"), got[0]


def test_unreadable_path_is_an_error_record(tmp_path: Path) -> None:
    got = _read(tmp_path)  # a directory
    assert len(got) == 1 and got[0][0] == 0 and "cannot read" in (got[0][1] or ""), got


@settings(max_examples=200, deadline=None)
@given(content=st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise(
    tmp_path_factory: pytest.TempPathFactory, content: bytes
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "m.json"
    path.write_bytes(content)
    records = list(read_records(path, record_limit=512, document_limit=4096))
    assert all(isinstance(r, OoniRecord) for r in records)
    assert all((r.measurement is None) != (r.error is None) for r in records), records
