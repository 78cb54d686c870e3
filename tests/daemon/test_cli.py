"""`probe init`, `probe run`, `probe results` and `probe status` as real processes."""

from __future__ import annotations

import json
import os
import stat
import tomllib

from probe.models.stored import StoredResult

from .harness import ProbeHome


def _jobs(*jobs: tuple[str, list[str]], every: str = "1h") -> str:
    return "\n".join(
        f'[[schedule.jobs]]\nname = "{name}"\ntargets = {json.dumps(targets)}\nevery = "{every}"\n'
        for name, targets in jobs
    )


def test_init_writes_config_key_and_consent(home: ProbeHome) -> None:
    home.config.parent.mkdir(exist_ok=True)
    proc = home.probe("init", "--yes", "--data-dir", str(home.data_dir))
    assert proc.returncode == 0, proc.stderr
    assert "Risks" in proc.stdout and "scrubbed" in proc.stdout, "the notice is shown"
    config = tomllib.loads(home.config.read_text())
    assert config["storage"]["data_dir"] == str(home.data_dir)
    assert config["schedule"]["jobs"][0]["name"] == "platforms"
    key = home.data_dir / "probe.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert (home.data_dir / "probe.pub").read_text().startswith("ssh-ed25519 ")
    assert (home.data_dir / "consent.json").exists()
    before = key.read_bytes()
    again = home.probe("init", "--yes")
    assert again.returncode == 0, again.stderr
    assert "Keeping the existing config" in again.stdout and "Kept the probe key" in again.stdout
    assert key.read_bytes() == before, "an existing key is never replaced"


def test_init_without_a_terminal_needs_yes(home: ProbeHome) -> None:
    proc = home.probe("init")
    assert proc.returncode == 2
    assert "consent is needed" in proc.stderr
    assert not home.config.exists(), "nothing is written without consent"


def test_scheduled_commands_need_init(home: ProbeHome, ok_url: str) -> None:
    proc = home.probe("run")
    assert proc.returncode == 2 and "run `probe init` first" in proc.stderr
    home.write_config(_jobs(("web", [ok_url])))
    proc = home.probe("run")
    assert proc.returncode == 2 and "probe init" in proc.stderr, proc.stderr
    proc = home.probe("daemon")
    assert proc.returncode == 2 and "probe init" in proc.stderr, proc.stderr


def test_readable_key_is_refused(home: ProbeHome, ok_url: str) -> None:
    home.write_config(_jobs(("web", [ok_url])))
    home.init()
    os.chmod(home.data_dir / "probe.key", 0o644)
    proc = home.probe("run")
    assert proc.returncode == 2 and "chmod 600" in proc.stderr, proc.stderr


def test_bad_job_config_names_the_job(home: ProbeHome) -> None:
    home.write_config(_jobs(("web", ["not a target!"])))
    home.init()
    proc = home.probe("run")
    assert proc.returncode == 2
    assert "job 'web'" in proc.stderr, proc.stderr
    home.write_config('[[schedule.jobs]]\nname = "x"\nevery = "1h"\n')
    proc = home.probe("run")
    assert proc.returncode == 2 and "neither targets nor input_file" in proc.stderr, proc.stderr
    home.write_config(_jobs(("a", ["twitter"]), ("a", ["youtube"])))
    proc = home.probe("status")
    assert proc.returncode == 2 and "duplicate job name" in proc.stderr, proc.stderr


def test_run_stores_results_that_results_and_status_show(
    home: ProbeHome, ok_url: str, slow_url: str
) -> None:
    input_file = home.root / "list.txt"
    input_file.write_text(f"# a list\n{ok_url}\n", encoding="utf-8")
    jobs = _jobs(("web", [ok_url, slow_url])) + (
        f'[[schedule.jobs]]\nname = "listed"\ninput_file = "{input_file}"\nevery = "24h"\n'
    )
    home.write_config(jobs)
    home.init()
    proc = home.probe("run")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    # Issue 20: `probe run` printed log lines; it ends with the table `probe check` prints.
    assert ok_url in proc.stdout and "accessible" in proc.stdout, proc.stdout
    assert "stored 3 result(s)" in proc.stderr and "level=" not in proc.stdout
    proc = home.probe("run", "--job", "listed", "--json")
    assert proc.returncode == 0, proc.stderr
    printed = [StoredResult.model_validate_json(line) for line in proc.stdout.splitlines()]
    assert [r.job for r in printed] == ["listed"]

    stored = home.stored()
    assert sorted(r.job for r in stored) == ["listed", "listed", "web", "web"]
    assert len({r.measurement_id for r in stored}) == 4, "ids are unique"
    assert printed[0].measurement_id in {r.measurement_id for r in stored}
    by_input = {(r.job, r.input): r for r in stored}
    ok = by_input[("web", ok_url)]
    assert ok.verdict.value == "accessible", ok.reasons
    assert by_input[("web", slow_url)].verdict.value != "accessible"
    assert all(r.controls for r in stored), "control sites are measured in every run"

    since = home.probe("results", "--since", "1h", "--job", "web", "--json")
    assert len(since.stdout.splitlines()) == 2
    table = home.probe("results", "--since", "2026-01-01")
    assert table.returncode == 0 and "accessible" in table.stdout
    bad = home.probe("results", "--since", "yesterday-ish")
    assert bad.returncode == 2 and "--since" in bad.stderr
    # Issue 20: `results -j nope` printed an empty table; the id shown was accepted nowhere.
    nope = home.probe("results", "-j", "nope")
    assert nope.returncode == 2 and "no such job (jobs: listed, web)" in nope.stderr, nope.stderr
    short = str(ok.measurement_id)[:8]
    assert short in table.stdout
    for argv in (("results", "show", short), ("results", "--id", short)):
        one = home.probe(*argv)
        assert one.returncode == 0, one.stderr
        assert str(ok.measurement_id) in one.stdout and ok.reasons[0][:30] in one.stdout
    missing = home.probe("results", "show", "ffffffff")
    assert missing.returncode == 2 and "no stored result" in missing.stderr

    status = home.status()
    assert status["store"]["results"] == 4  # type: ignore[index]
    assert status["outbox"]["backlog"] == 4  # type: ignore[index]
    assert status["daemon"]["running"] is False  # type: ignore[index]
    text = home.probe("status")
    assert text.returncode == 0 and "outbox: 4 not uploaded" in text.stdout, text.stdout
    # Issue 20: the jobs table was empty after `probe run` (no daemon had written it).
    assert [j["name"] for j in status["jobs"]] == ["web", "listed"]  # type: ignore[index]
    assert "network: unknown" in text.stdout


def test_unknown_job_is_an_error(home: ProbeHome, ok_url: str) -> None:
    home.write_config(_jobs(("web", [ok_url])))
    home.init()
    proc = home.probe("run", "--job", "nope")
    assert proc.returncode == 2 and "no such job: nope" in proc.stderr


def test_daily_budget_skips_a_run_that_would_exceed_it(home: ProbeHome, ok_url: str) -> None:
    home.write_config(_jobs(("web", [ok_url])), extra="")
    text = home.config.read_text().replace(
        "[storage]", "[schedule]\ndaily_budget_bytes = 1\n[storage]"
    )
    home.config.write_text(text)
    home.init()
    first = home.probe("run")
    assert first.returncode == 0, first.stderr + first.stdout
    second = home.probe("run")
    assert second.returncode == 1
    assert "job web: skipped_budget" in second.stderr, second.stderr
    status = home.status()
    errors = status["recent_errors"]
    assert errors and errors[0]["status"] == "skipped_budget"  # type: ignore[index]
    assert len(home.stored()) == 1


def _init_in_terminal(
    home: ProbeHome, answer: str, geoip_answer: bytes = b"n\n"
) -> tuple[int, str]:
    """Run `probe init` on a pseudo-terminal, answer the consent question, return (rc, text)."""
    import pty
    import select
    import subprocess
    import sys

    from .harness import _env

    main, child = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "probe", "init", "--config", str(home.config),
         "--data-dir", str(home.data_dir)],
        stdin=child, stdout=child, stderr=child, env=_env(), close_fds=True,
    )  # fmt: skip
    os.close(child)
    text, answered, offered = "", False, False
    try:
        while True:
            ready, _, _ = select.select([main], [], [], 30)
            assert ready, f"probe init is silent:\n{text}"
            try:
                chunk = os.read(main, 4096).decode(errors="replace")
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            text += chunk
            if not answered and "want to run probe?" in text:
                os.write(main, answer.encode() + b"\n")
                answered = True
            if not offered and "Fetch the free ASN database now" in text:
                os.write(main, geoip_answer)  # offered (issue 20); no network in tests
                offered = True
        return proc.wait(30), text
    finally:
        os.close(main)


def test_init_takes_no_answer_to_the_download_as_no(home: ProbeHome) -> None:
    """End of input at the ASN database question (a script that answers only the consent, as
    the deployment test does) skips the download; init is done: exit 0, not "interrupted"."""
    rc, text = _init_in_terminal(home, "y", geoip_answer=b"\x04")
    assert rc == 0, text
    assert "Skipped: `probe geoip update` fetches it later." in text, text
    assert home.config.exists() and (home.data_dir / "consent.json").exists()


def test_init_asks_for_consent_on_a_terminal(home: ProbeHome) -> None:
    rc, text = _init_in_terminal(home, "n")
    assert rc == 1 and "Nothing was written" in text, text
    assert not home.config.exists() and not home.data_dir.exists()
    rc, text = _init_in_terminal(home, "y")
    assert rc == 0, text
    assert "Fetch the free ASN database now" in text and "probe geoip update" in text
    assert home.config.exists() and (home.data_dir / "consent.json").exists()
