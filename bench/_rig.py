"""The benchmark's loopback "internet", in a process of its own so it does not share the probe's
interpreter lock: DNS, HTTPS, a blackholed port and a helper. Prints its addresses as one JSON
line, then serves until its standard input closes.

Usage: python bench/_rig.py WORKDIR CONNECT_TIMEOUT_S
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from helper.loopback import RunningHelper  # noqa: E402
from servers import Blackhole, DnsEntry, DnsServer, HttpServer, ServerLoop, TestPki  # noqa: E402

from probe.config import Settings  # noqa: E402

TARGETS = 200


def main() -> None:
    workdir, connect_s = Path(sys.argv[1]), float(sys.argv[2])
    with ServerLoop() as loop:
        pki = TestPki(workdir)
        dns = DnsServer(loop)
        dns.start()
        for i in range(TARGETS):
            dns.zone.set(f"t{i}.site.test", DnsEntry(a=("127.0.0.1",)))
        dns.zone.set("ctl.site.test", DnsEntry(a=("127.0.0.1",)))
        hole = Blackhole()
        with HttpServer(loop, ssl_context=pki.server_context()) as https:
            helper = RunningHelper(
                Settings(
                    resolver={"servers": [f"udp://{dns.address}"], "late_reply_window_s": 0},
                    network={"routable": ["127.0.0.0/8"]},
                    tls={"ca_bundle": str(pki.ca_pem)},
                    timeouts={"connect": connect_s, "tls": connect_s},
                    # One probe asks from one address: as before the per-client cap (issue 18).
                    helper={"max_per_client": 200},
                )
            )
            print(
                json.dumps(
                    {
                        "dns": dns.address,
                        "https_port": https.port,
                        "blackhole_port": hole.port,
                        "helper": helper.url,
                        "ca_pem": str(pki.ca_pem),
                    }
                ),
                flush=True,
            )
            sys.stdin.read()
            helper.close()
        hole.close()
        dns.close()


if __name__ == "__main__":
    main()
