"""A day on a censored network, compressed: `probe run` in the lab's client namespace while
the ISP resets Twitter's SNI, then lifts the block, then cuts everything, while Twitter's own
servers go down later. `probe report` must find the incident (with its bounds and method),
the outage and the platform-down window, and hold three claims against them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from .netns import Lab, _toml
from .scenarios import SCENARIOS

# (round name, scenario or None for a clean network)
ROUNDS = (
    ("before", None),
    ("blocked-1", "tls_sni_reset"),
    ("blocked-2", "tls_sni_reset"),
    ("lifted", None),
    ("outage", "full_outage"),
    ("back", None),
    ("down", "platform_down"),
    ("up", None),
)


def test_report_of_a_censored_day(lab: Lab) -> None:
    data_dir = lab.run_dir / "report-probe"
    config = lab.run_dir / "report.toml"
    sections = {name: dict(values) for name, values in lab.config.items()}
    sections["storage"] = {"data_dir": str(data_dir)}
    jobs = '[[schedule.jobs]]\nname = "day"\ntargets = ["twitter", "bbc.com"]\nevery = "15m"\n'
    config.write_text(_toml(sections) + jobs)
    spans: dict[str, tuple[datetime, datetime]] = {}
    lab.reset()
    try:
        init = lab.probe("init", "--yes", "--config", str(config))
        assert init.returncode == 0, init.stderr[-3000:]
        for name, scenario in ROUNDS:
            lab.reset()
            if scenario is not None:
                lab.apply(SCENARIOS[scenario].censor)
            began = datetime.now(UTC)
            done = lab.probe("run", "--config", str(config))
            assert done.returncode == 0, f"round {name}: {done.stderr[-3000:]}"
            spans[name] = (began, datetime.now(UTC))
    finally:
        lab.reset()

    def at(name: str, edge: int) -> str:
        return spans[name][edge].isoformat()

    claims = lab.run_dir / "claims.toml"
    claims.write_text(
        f'[[claim]]\nstart = "{at("blocked-1", 0)}"\nend = "{at("blocked-2", 1)}"\n'
        'statement = "technical problems"\n'
        f'[[claim]]\nstart = "{at("outage", 0)}"\nend = "{at("outage", 1)}"\n'
        'statement = "an accident at power-supply equipment"\n'
        f'[[claim]]\nstart = "{at("down", 0)}"\nend = "{at("down", 1)}"\n'
        'platforms = ["twitter"]\nstatement = "a problem on our side"\n'
    )
    html = lab.run_dir / "report.html"
    done = lab.probe("report", "--config", str(config), "--claims", str(claims),
                     "--json", "--html", str(html))  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["scope"]["measurements"] == 2 * len(ROUNDS)
    listed = lab.probe("results", "--json", "--config", str(config)).stdout.splitlines()
    history = [(r["measurement_start_time"], r["probe_asn"], r["input"], r["verdict"],
                r["reasons"][:2]) for r in map(json.loads, listed)]  # fmt: skip
    told = "\n".join([*map(str, spans.items()), *map(str, history)])

    def within(moment: str | None, name: str) -> bool:
        # Reports keep whole milliseconds.
        began, ended = spans[name]
        if moment is None:
            return False
        return began - timedelta(milliseconds=1) <= datetime.fromisoformat(moment) <= ended

    (incident,) = report["incidents"]
    assert (incident["platform"], incident["verdict"], incident["blocking"]) == (
        "twitter", "blocked", "tls_reset",
    ), incident  # fmt: skip
    assert incident["measurements"] == 2 and incident["probes"] == 1
    assert within(incident["start"], "blocked-1") and within(incident["end"], "blocked-2")
    assert within(incident["onset_after"], "before"), f"{incident}\n{told}"
    assert within(incident["ended_before"], "lifted"), f"{incident}\n{told}"

    (outage,) = report["outages"]
    assert sorted(outage["platforms"]) == ["bbc.com", "twitter"], outage
    assert within(outage["start"], "outage") and within(outage["end"], "outage")
    assert within(outage["onset_after"], "lifted"), f"{outage}\n{told}"
    assert within(outage["ended_before"], "back"), f"{outage}\n{told}"

    (down,) = report["platform_down"]
    assert down["platform"] == "twitter" and within(down["start"], "down"), down

    findings = [c["finding"] for c in report["claims"]]
    assert findings == ["contradicted_by_blocking", "consistent_with_outage", "platform_outage"], [
        c["summary"] for c in report["claims"]
    ]
    # The control sites the lab's probe loads on its own path are named as the evidence.
    evidence = report["claims"][0]["evidence"]
    assert evidence["control_sites_reachable"] and evidence["accessible_platforms"] == ["bbc.com"]
    page = html.read_text(encoding="utf-8")
    assert "contradicted_by_blocking" in page and "tls_reset" in page
