"""A job's own choice of the optional tests (throughput, packets) over the daemon's."""

from __future__ import annotations

from probe.config import JobSettings, Settings
from probe.daemon.runner import settings_for_job


def test_a_job_chooses_its_own_throughput_and_packet_tests() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    same = JobSettings(name="a", targets=["twitter"], every=60)
    assert settings_for_job(settings, same) is settings
    quiet = JobSettings(name="b", targets=["twitter"], every=60, packets=False, throughput=False)
    chosen = settings_for_job(settings, quiet)
    assert (chosen.packets.enabled, chosen.throughput.enabled) == (False, False)
    assert settings.packets.enabled and settings.throughput.enabled, "the daemon's own are kept"
    assert chosen.packets.max_ttl == settings.packets.max_ttl


def test_a_job_that_asks_for_throughput_gets_its_pages_measured_too() -> None:
    """Issue 19: by default only catalogue objects; a job's `throughput = true` is an ask."""
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.throughput.enabled and not settings.throughput.pages
    asked = JobSettings(name="c", targets=["https://example.com/"], every=60, throughput=True)
    chosen = settings_for_job(settings, asked)
    assert (chosen.throughput.enabled, chosen.throughput.pages) == (True, True)
    assert not settings.throughput.pages, "the daemon's own are kept"
