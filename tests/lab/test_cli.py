"""The human-readable `probe check` output on a real censored network (the lab)."""

from __future__ import annotations

from .netns import Lab
from .scenarios import SCENARIOS


def test_terminal_output_names_the_verdict_and_the_method(lab: Lab) -> None:
    lab.reset()
    lab.apply(SCENARIOS["tls_sni_reset"].censor)
    lab.check(["example.com"])  # writes the lab's probe.toml
    done = lab.probe("check", "--config", str(lab.run_dir / "probe.toml"), "twitter", "bbc.com")
    text = done.stdout
    assert done.returncode == 0, f"probe check: exit {done.returncode}: {done.stderr[-2000:]}"
    assert "blocked" in text and "tls_reset" in text, (
        f"terminal output: expected the verdict:\n{text}"
    )
    assert "accessible" in text, f"terminal output: expected bbc.com accessible:\n{text}"
    assert "Traceback" not in done.stderr, done.stderr
