"""docs/cli.md's convention, held against every command's parameters (issue 20).

Walks the typer app: a new option that breaks the convention fails here, naming the command.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

from probe.cli.app import app

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
METAVAR = re.compile(r"^[A-Z][A-Z0-9_:./|-]*(\.\.\.)?$")
# Options that name a file the command writes: by format, or -o/--output.
WRITES = {"--output", "--html", "--csv", "--save-facts"}
# Names the convention retired: each meant two things somewhere (issue 20).
RETIRED = {"--out", "--json-file"}


def _commands() -> Iterator[tuple[str, Any]]:
    root = typer.main.get_command(app)

    def walk(path: str, command: Any) -> Iterator[tuple[str, Any]]:
        yield path, command
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            yield from walk(f"{path} {name}", sub)

    yield from walk("probe", root)


COMMANDS = dict(_commands())


def _options(command: Any) -> list[Any]:
    return [p for p in command.params if p.param_type_name == "option"]


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_json_is_always_a_switch(path: str) -> None:
    for option in _options(COMMANDS[path]):
        if "--json" in option.opts:
            assert option.is_flag, f"{path}: --json takes a value; files are -o/--output"
            assert "json" in (option.help or "").lower(), f"{path}: --json help: {option.help}"


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_values_have_a_plain_metavar(path: str) -> None:
    """Help shows FILE, DURATION, HOST:PORT, never a Python type such as <list[str]>."""
    for param in COMMANDS[path].params:
        if getattr(param, "is_flag", False) or param.name == "help":
            continue
        assert param.metavar and METAVAR.fullmatch(param.metavar), (
            f"{path}: {param.opts} has metavar {param.metavar!r}; give an UPPERCASE one"
        )


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_files_written_are_named_by_format_or_output(path: str) -> None:
    for option in _options(COMMANDS[path]):
        assert not RETIRED & set(option.opts), f"{path}: {option.opts} is retired"
        if "--output" in option.opts:
            assert "-o" in option.opts, f"{path}: --output without -o"
        if "-o" in option.opts:
            assert "--output" in option.opts, f"{path}: -o is only ever --output"
        if WRITES & set(option.opts):
            assert option.metavar == "FILE", f"{path}: {option.opts} writes a FILE"


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_times_accept_durations_and_iso(path: str) -> None:
    for option in _options(COMMANDS[path]):
        if {"--since", "--until"} & set(option.opts):
            text = option.help or ""
            assert "duration" in text and "ISO" in text, f"{path}: {option.opts}: {text}"
            assert option.metavar == "TIME", f"{path}: {option.opts}"


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_h_is_help(path: str) -> None:
    ctx = COMMANDS[path].make_context(path.split()[-1], ["-h"], resilient_parsing=True)
    assert "-h" in ctx.help_option_names, path


def test_every_command_is_in_the_docs() -> None:
    text = DOCS.read_text(encoding="utf-8")
    missing = [p for p in COMMANDS if p != "probe" and f"`{p}" not in text]
    assert not missing, f"docs/cli.md does not name {missing}"
