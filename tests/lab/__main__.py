"""`python -m lab COMMAND` (with tests/ on sys.path; scripts/lab.sh does that).

docs    print docs/lab.md
list    print the scenario names
clean   remove leftovers of lab runs whose process is gone
up      build the lab and keep it up until Ctrl-C, for manual checks
record  record the throttling scenarios' throughput tests (tests/decide/data/throughput/) and
        the packet scenarios' packet evidence (tests/decide/data/packets/)
"""

from __future__ import annotations

import sys
import time

from .docs import render
from .netns import ROLES, Lab, clean_leftovers, prerequisites
from .scenarios import SCENARIOS


def _up() -> int:
    reason = prerequisites()
    if reason is not None:
        print(f"cannot build the lab: {reason}", file=sys.stderr)
        return 1
    lab = Lab()
    try:
        lab.up()
        config = lab.run_dir / "probe.toml"
        lab.check(["example.com"])  # writes probe.toml and proves the lab works
        print(f"lab up: namespaces {', '.join(lab.ns(role) for role in ROLES)}")
        command = f"{sys.executable} -m probe check --config {config} twitter"
        print(f"try: ip netns exec {lab.ns('client')} {command}")
        print("Ctrl-C tears it down.")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        lab.down()


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "list"
    if command == "docs":
        sys.stdout.write(render())
    elif command == "list":
        print("\n".join(SCENARIOS))
    elif command == "clean":
        removed = clean_leftovers()
        print(f"removed {len(removed)} leftover namespaces: {' '.join(removed) or '-'}")
    elif command == "up":
        return _up()
    elif command == "record":
        from .record import record

        record()
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
