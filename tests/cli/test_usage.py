"""Usage and configuration errors: one clear line on stderr, exit 2, and nothing measured."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from probe_cli import run_probe

# Where a test would measure by mistake, it may only reach loopback (nothing listens on port 9).
SAFE_TARGET = "http://127.0.0.1:9/"


def _probe(*argv: str, env_config: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}
    if env_config is not None:
        env["PROBE_CONFIG"] = str(env_config)
    return run_probe(*argv, env=env, timeout_s=60)


def test_version() -> None:
    proc = _probe("--version")
    assert proc.returncode == 0
    assert proc.stdout.startswith("probe ")


def test_unknown_config_key_is_named(tmp_path: Path) -> None:
    config = tmp_path / "probe.toml"
    config.write_text("[timeouts]\nconect = 3\n", encoding="utf-8")
    proc = _probe("check", "--config", str(config), SAFE_TARGET)
    assert proc.returncode == 2, proc.stderr
    assert "unknown key 'timeouts.conect'" in proc.stderr and "check its spelling" in proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr


def test_config_from_environment_is_validated_too(tmp_path: Path) -> None:
    config = tmp_path / "probe.toml"
    config.write_text("[network]\nroutable = ['not a network']\n", encoding="utf-8")
    proc = _probe("check", SAFE_TARGET, env_config=config)
    assert proc.returncode == 2
    assert "network.routable" in proc.stderr


def test_missing_input_file_is_named(tmp_path: Path) -> None:
    proc = _probe("check", "--input-file", str(tmp_path / "nope.txt"))
    assert proc.returncode == 2
    assert "nope.txt" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("bad", ["ftp://example.com/", "not_a_platform", "http://exa mple.com/"])
def test_only_invalid_targets_exit_2_without_measuring(bad: str) -> None:
    proc = _probe("check", "--json", bad)
    assert proc.returncode == 2, proc.stderr
    assert bad in proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr


def test_no_targets_is_a_usage_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing here\n\n", encoding="utf-8")
    proc = _probe("check", "--input-file", str(empty))
    assert proc.returncode == 2
    assert "no targets" in proc.stderr


def test_a_bad_resolver_flag_is_named() -> None:
    proc = _probe("check", "--resolver", "ftp://192.0.2.1", SAFE_TARGET)
    assert proc.returncode == 2, proc.stderr
    assert "resolver.servers" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_an_unreadable_ca_bundle_is_named_before_anything_is_measured(tmp_path: Path) -> None:
    proc = _probe("check", "--ca-bundle", str(tmp_path / "roots.pem"), SAFE_TARGET)
    assert proc.returncode == 2, proc.stderr
    assert "ca_bundle" in proc.stderr and "roots.pem" in proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr


# --- Issue 20: one convention for every command -------------------------------------------


HELPS = [("-h",), ("report", "-h"), ("bundle", "export", "-h"), ("results", "show", "-h"),
         ("geoip", "update", "-h"), ("check", "-h"), ("classify", "-h"),
         ("collector", "ingest", "-h")]  # fmt: skip


@pytest.mark.parametrize("argv", HELPS)
def test_h_is_help(argv: tuple[str, ...]) -> None:
    proc = _probe(*argv)
    assert proc.returncode == 0 and proc.stdout.startswith("Usage: probe"), proc.stderr
    assert "<" not in proc.stdout.replace("<data_dir>", ""), proc.stdout  # no Python types


def test_a_usage_error_is_one_line_and_exit_2() -> None:
    proc = _probe("check", "--bogus")
    assert proc.returncode == 2
    assert proc.stderr == "probe: error: No such option: --bogus (see `probe check -h`)\n"


@pytest.mark.parametrize(
    "argv",
    [("classify", "{missing}"), ("bundle", "inspect", "{missing}"),
     ("collector", "ingest", "{missing}", "--data-dir", "{root}"),
     ("classify", "--fingerprints", "{missing}", "{missing}")],
)  # fmt: skip
def test_a_missing_file_is_said_one_way(tmp_path: Path, argv: tuple[str, ...]) -> None:
    missing = tmp_path / "nope.json"
    filled = [a.format(missing=missing, root=tmp_path) for a in argv]
    proc = _probe(*filled)
    assert proc.returncode == 2, proc.stderr
    assert f"{missing}: no such file; check the path" in proc.stderr
    assert proc.stderr.startswith("probe: error: ") and proc.stderr.count("\n") == 1


def test_a_bad_listen_is_exit_2_in_helper_and_collector(tmp_path: Path) -> None:
    helper = _probe("helper", "--listen", "nonsense")
    collector = _probe("collector", "--listen", "nonsense", "--data-dir", str(tmp_path))
    for proc in (helper, collector):
        assert proc.returncode == 2 and "is not HOST:PORT" in proc.stderr, proc.stderr


def test_collector_export_since_takes_a_duration(tmp_path: Path) -> None:
    from probe.collector.storage import CollectorStore

    CollectorStore.open(tmp_path).close()
    proc = _probe("collector", "export", "--data-dir", str(tmp_path), "--since", "1h")
    assert proc.returncode == 0, proc.stderr
    nowhere = _probe("collector", "export", "--data-dir", str(tmp_path / "nowhere"))
    assert nowhere.returncode == 2 and "no collector store there" in nowhere.stderr
    bad = _probe("collector", "export", "--data-dir", str(tmp_path), "--since", "soon")
    assert bad.returncode == 2 and "use a duration (30m, 24h, 7d) or an ISO" in bad.stderr


def test_classify_on_a_file_that_is_not_ooni_gives_one_error(tmp_path: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("".join(f"line {n} of prose, not JSON\n" for n in range(300)))
    proc = _probe("classify", "--json", str(junk))
    assert proc.returncode == 1, proc.stderr
    (line,) = proc.stdout.splitlines()
    assert "not OONI measurements" in line and "300 record(s)" in line


def test_ctrl_c_exits_130_with_one_line() -> None:
    """Issue 20: Ctrl-C exited 130 in `check` but 1 (with "SIGTERM") in `run`."""
    import sys

    code = (
        "import sys, probe.runner\n"
        "async def interrupted(*a, **k):\n    raise KeyboardInterrupt\n"
        "probe.runner.check_targets = interrupted\n"
        "from probe.cli.app import main\n"
        "main(['check', '--json', 'http://127.0.0.1:9/'])\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    assert proc.returncode == 130 and proc.stderr == "probe: interrupted\n", proc.stderr


def test_an_interrupted_run_exits_130() -> None:
    import typer

    from probe.cli.daemon import _summarise
    from probe.daemon.runner import RunOutcome
    from probe.models.stored import RunStatus

    interrupted = RunOutcome("web", RunStatus.INTERRUPTED, error="stopped before every target")
    with pytest.raises(typer.Exit) as caught:
        _summarise([interrupted], [], json_output=True)
    assert caught.value.exit_code == 130
    with pytest.raises(typer.Exit) as failed:
        _summarise([RunOutcome("web", RunStatus.FAILED, error="x")], [], json_output=True)
    assert failed.value.exit_code == 1
