"""The scheduled path on a censored network: `probe init` + `probe run` in the lab's client
namespace store the same verdicts `probe check` prints, and the probe's public address (the
ISP's NAT address, which the helper echoes) is in no byte of the store."""

from __future__ import annotations

import json

from . import world
from .netns import Lab, _toml
from .scenarios import SCENARIOS


def test_stored_results_carry_the_verdict_and_never_the_public_address(lab: Lab) -> None:
    lab.reset()
    lab.apply(SCENARIOS["tls_sni_reset"].censor)
    data_dir = lab.run_dir / "daemon-data"
    config = lab.run_dir / "daemon.toml"
    sections = {name: dict(values) for name, values in lab.config.items()}
    sections["storage"] = {"data_dir": str(data_dir)}
    jobs = (
        '[[schedule.jobs]]\nname = "platforms"\ntargets = ["twitter", "bbc.com"]\nevery = "15m"\n'
    )
    config.write_text(_toml(sections) + jobs)
    try:
        for command in (["init", "--yes"], ["run"]):
            done = lab.probe(*command, "--config", str(config))
            assert done.returncode == 0, f"probe {command[0]}: {done.stderr[-3000:]}"
        listed = lab.probe("results", "--json", "--config", str(config))
        assert listed.returncode == 0, listed.stderr
        stored = {r["input"]: r for r in map(json.loads, listed.stdout.splitlines())}
        assert (stored["twitter"]["verdict"], stored["twitter"]["blocking"]) == (
            "blocked", "tls_reset",
        ), stored["twitter"]["reasons"]  # fmt: skip
        assert stored["bbc.com"]["verdict"] == "accessible", stored["bbc.com"]["reasons"]
        assert {r["job"] for r in stored.values()} == {"platforms"}
        assert "[scrubbed]" in listed.stdout, "the helper echoed the address; it was scrubbed"
        public = world.PUBLIC_ADDRESS.encode()
        files = sorted(data_dir.glob("results.sqlite3*"))
        assert files, "the store exists"
        for path in files:
            assert public not in path.read_bytes(), f"{path.name} holds the public address"
    finally:
        lab.reset()
