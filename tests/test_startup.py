"""The CLI stays light: `probe --version` and `--help` import no heavy module."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = (
    "httpx", "dns", "scapy", "duckdb", "uvicorn", "starlette", "cryptography", "maxminddb",
    "fastapi",
)  # fmt: skip
COMMANDS = [
    ["--version"], ["--help"], ["check", "--help"], ["helper", "--help"], ["upload", "--help"],
    ["bundle", "export", "--help"], ["collector", "--help"], ["collector", "export", "--help"],
    ["report", "--help"], ["classify", "--help"],
]  # fmt: skip


@pytest.mark.parametrize("argv", COMMANDS)
def test_cli_does_not_import_heavy_modules(argv: list[str]) -> None:
    code = (
        "import sys\n"
        "from probe.cli.app import app\n"
        f"sys.argv = ['probe', *{argv!r}]\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "[]", f"probe {' '.join(argv)} imported {out}"


@pytest.mark.parametrize("argv", COMMANDS[1:])
def test_help_runs(argv: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "probe", *argv], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "Usage" in proc.stdout


# What `probe check` imports before it measures (cli/check.py's body), and what it must not: a
# module imported for an except clause or a pattern compiled "just in case" is start-up paid by
# every check (issue 19).
CHECK_PATH = "import probe.cli.app, probe.cli.render, probe.config, probe.runner, probe.targets"
NOT_ON_CHECK_PATH = (
    "dns.resolver", "dns.query", "dns.asyncresolver", "httpx._main", "rich", "cryptography",
    # Imported inside the late-reply window (runner.py WINDOW_IMPORTS), or by the table alone:
    # decide/, and the HTTP side, which only a DNS reply makes useful (httpx, httpcore and
    # their protocol stacks, the fetch, the helper's client, DoH, the record models).
    *(f"probe.decide.{name}" for name in ("verdict", "target", "network", "followup", "tls")),
    "probe.report.palette", "probe.models.reports",
    "httpx", "httpcore", "h11", "h2", "anyio", "certifi", "socksio",
    "probe.measure.http", "probe.measure._connection", "probe.measure._fetch",
    "probe.measure.control", "probe.measure._doh", "probe.measure.throughput",
    "probe.measure.packets", "probe.models.results", "probe.models.control",
    "probe.models.page", "probe.models.packets",
)  # fmt: skip


def test_check_path_does_not_import_unused_modules() -> None:
    code = f"import json, sys\n{CHECK_PATH}\nprint(json.dumps(sorted(sys.modules)))\n"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    loaded = set(json.loads(out.strip().splitlines()[-1]))
    assert loaded.isdisjoint(NOT_ON_CHECK_PATH), loaded & set(NOT_ON_CHECK_PATH)


def test_the_check_process_does_not_import_trio() -> None:
    """httpcore imports trio whenever it is installed (selenium brings it): `probe`'s main()
    refuses it, the process running asyncio alone (issue 19)."""
    code = (
        "import atexit, sys\n"
        "def later():\n"
        "    import httpcore  # as the run's window imports it\n"
        "    print('trio' in sys.modules, 'httpcore' in sys.modules)\n"
        "atexit.register(later)\n"
        "from probe.cli.app import main\n"
        "main(['check', '--json', '--config', '/nonexistent/probe.toml', 'example.com'])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 2, done.stderr  # the missing configuration, after the imports
    assert done.stdout.split() == ["False", "True"], done.stdout
