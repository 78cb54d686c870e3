"""A real browser for the live pages: Debian's chromium driven by selenium, and axe-core (from
the npm registry, its integrity checked) to audit what it shows.

Missing chromium, chromedriver, selenium or npm skips the browser tests with the reason (and,
under PROBE_TEST_STRICT=1, fails them: conftest.py). axe-core's tarball is kept outside the
clone (/var/cache/probe-tests, else ~/.cache/probe-tests), so it is fetched once per machine.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import pytest

AXE_VERSION = "4.14.1"
# The registry's dist.integrity of axe-core@4.14.1 (`npm view axe-core@4.14.1 dist.integrity`).
AXE_INTEGRITY = "sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ=="  # noqa: E501
CHROMIUM = ("/usr/bin/chromium", "chromium")
CHROMEDRIVER = ("/usr/bin/chromedriver", "chromedriver")
SERIOUS = ("serious", "critical")


def _found(names: tuple[str, ...]) -> str | None:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return None


def _cache_dir() -> Path:
    for base in (Path("/var/cache/probe-tests"), Path.home() / ".cache" / "probe-tests"):
        try:
            base.mkdir(parents=True, exist_ok=True)
            probe = base / "npm"
            probe.mkdir(exist_ok=True)
            if os.access(probe, os.W_OK):
                return probe
        except OSError:
            continue
    return Path(tempfile.mkdtemp(prefix="probe-tests-npm-"))


def _integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def axe_source() -> str:
    """Return axe.min.js of the pinned axe-core, fetched with npm once and checked."""
    tarball = _cache_dir() / f"axe-core-{AXE_VERSION}.tgz"
    if not tarball.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm is not installed (apt-get install npm): it fetches axe-core")
        with tempfile.TemporaryDirectory() as work:
            done = subprocess.run(
                [npm, "pack", f"axe-core@{AXE_VERSION}", "--pack-destination", work],
                capture_output=True, text=True, timeout=300, check=False, cwd=work,
            )  # fmt: skip
            packed = Path(work) / f"axe-core-{AXE_VERSION}.tgz"
            if done.returncode != 0 or not packed.exists():
                pytest.skip(f"npm pack axe-core@{AXE_VERSION} failed: {done.stderr[-500:]}")
            shutil.move(packed, tarball)
    data = tarball.read_bytes()
    if _integrity(data) != AXE_INTEGRITY:
        tarball.unlink()
        raise AssertionError(f"{tarball} is not axe-core {AXE_VERSION} (integrity differs)")
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        member = archive.extractfile("package/axe.min.js")
        assert member is not None
        return member.read().decode("utf-8")


def chrome() -> Any:
    """Return a headless Chromium WebDriver (Debian's chromium and chromium-driver)."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (pip install -e '.[test]')")
    binary, driver = _found(CHROMIUM), _found(CHROMEDRIVER)
    if binary is None or driver is None:
        pytest.skip(
            "chromium or chromedriver is missing (apt-get install chromium chromium-driver)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--hide-scrollbars", "--force-device-scale-factor=1", "--lang=en-US",
                 "--window-size=1400,1000"):  # fmt: skip
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(executable_path=driver))


def audit(driver: Any, axe: str) -> list[dict[str, Any]]:
    """Return axe-core's violations on the page loaded in `driver`.

    The script goes in through WebDriver (the DevTools protocol), which the page's
    Content-Security-Policy does not govern: the page itself still runs no script.
    """
    driver.execute_script(axe)
    driver.set_script_timeout(60)
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']})"
        ".then(r => done(r.violations)).catch(e => done({error: String(e)}));"
    )
    assert isinstance(result, list), result
    return result


def screenshot(driver: Any, path: Path, width: int) -> None:
    """Save the whole page at `width` CSS pixels wide."""
    driver.set_window_size(width, 1000)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, min(int(height) + 40, 6000))
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))


def artefacts() -> Path:
    """Where the browser tests leave their screenshots (PROBE_TEST_ARTEFACTS, else
    test-artefacts/ in the checkout, ignored by git)."""
    default = Path(__file__).resolve().parents[3] / "test-artefacts"
    return Path(os.environ.get("PROBE_TEST_ARTEFACTS", default)) / "browser"
