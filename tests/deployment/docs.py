"""The commands of docs/deployment.md and docs/collector.md, as the deployment test runs them.

A fenced ```sh block right after an HTML comment `<!-- deployment-test: NAME -->` is run by
tests/deployment as written, with the substitutions below and nothing else: a changed command in
the docs is a changed test. `apt`/`apt-get` lines are not run in the container (it has only a
loopback network): the packages they name are installed when its root file system is built.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEPLOYMENT = REPO / "docs" / "deployment.md"
COLLECTOR = REPO / "docs" / "collector.md"

_BLOCK = re.compile(r"<!-- deployment-test: ([\w-]+) -->\n```sh\n(.*?)```", re.DOTALL)
# Where the test puts what the docs fetch from the Internet (bind-mounted read-only).
CHECKOUT_IN_CONTAINER = "/mnt/probe-checkout"
FIXTURES_IN_CONTAINER = "/mnt/probe-fixtures"
CADDY_ROOT = "/var/lib/caddy/.local/share/caddy/pki/authorities/local/root.crt"


@dataclass(frozen=True)
class Substitution:
    block: str
    old: str
    new: str
    why: str


SUBSTITUTIONS = (
    Substitution(
        "install", "https://…/probe.git", CHECKOUT_IN_CONTAINER,
        "the checkout under test (a snapshot of its working tree) instead of the repository URL",
    ),
    Substitution(
        "test-list", "https://raw.githubusercontent.com/citizenlab/test-lists/master/lists/kz.csv",
        f"file://{FIXTURES_IN_CONTAINER}/kz.csv", "a local test list: no Internet in the container",
    ),
    Substitution(
        "check", "journalctl -u probe -f", "journalctl -u probe --no-pager",
        "`-f` follows the journal forever",
    ),
    Substitution(
        "collector", "curl -s https://collector.example.org/",
        f"curl -sf --retry 20 --retry-all-errors --retry-delay 1 --cacert {CADDY_ROOT}"
        " https://collector.example.org/",
        "Caddy's certificate comes from its local CA (`local_certs`), issued a moment after the"
        " reload",
    ),
)  # fmt: skip


def blocks() -> dict[str, str]:
    """Every marked block of both pages, by name (a name used twice is an error)."""
    found: dict[str, str] = {}
    for page in (DEPLOYMENT, COLLECTOR):
        for name, body in _BLOCK.findall(page.read_text(encoding="utf-8")):
            assert name not in found, f"{page.name}: deployment-test block {name!r} twice"
            found[name] = body
    return found


def _is_apt(line: str) -> bool:
    return line.split(" ", 1)[0] in {"apt", "apt-get"}


def apt_packages(all_blocks: dict[str, str]) -> list[str]:
    """The packages every marked `apt(-get) install` line names, sorted."""
    packages: set[str] = set()
    for body in all_blocks.values():
        for line in body.splitlines():
            if _is_apt(line) and " install " in f"{line} ":
                words = shlex.split(line)
                packages.update(w for w in words[words.index("install") + 1 :] if w[0] != "-")
    return sorted(packages)


def script(all_blocks: dict[str, str], name: str, *, strict: bool = True) -> str:
    """Block `name` as a bash script: substituted, its apt lines left out; `strict`: the first
    command that fails fails the script (not for blocks that only look, where a `grep` that
    finds nothing is no error)."""
    body = all_blocks[name]
    for sub in SUBSTITUTIONS:
        if sub.block == name:
            assert sub.old in body, f"block {name!r} no longer contains {sub.old!r}"
            body = body.replace(sub.old, sub.new)
    lines = [line for line in body.splitlines() if not _is_apt(line)]
    return ("set -euo pipefail\n" if strict else "") + "\n".join(lines) + "\n"
