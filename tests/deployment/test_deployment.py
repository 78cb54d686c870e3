"""docs/deployment.md and docs/collector.md followed under a real systemd (issue 21).

A Debian 12 container boots systemd as PID 1 (container.py); the module's fixture runs the
docs' marked blocks in it (docs.py lists the substitutions), and the tests then check what the
docs promise of the unit, one after another on the same machine: READY, the sandbox's score,
reload, a missing test list, SIGKILL, the watchdog, a stop during a run whose lookups hang, an
upload through Caddy to the collector, and a reboot. Needs root; it skips, saying why, where
nspawn cannot boot (a skip fails under PROBE_TEST_STRICT=1, as in CI).

The container has only a loopback network. Its /etc/resolv.conf points at a resolver
(`loopback-dns`) that answers for collector.example.org alone and never for any other name, so
every other lookup hangs the way it does on a network whose DNS times out: the daemon's helper
(`helper.stuck.test`, in the stop test) is looked up with getaddrinfo and stays stuck for
minutes (issue 21, 2).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from . import docs
from .container import (
    CACHE,
    Container,
    NotBootable,
    ensure_rootfs,
    ensure_wheels,
    snapshot_checkout,
)

pytestmark = pytest.mark.timeout(900)

MAX_EXPOSURE = 1.6
TEST_LIST = "url,category_code,category_description,date_added,source,notes\n" \
    "https://collector.example.org/,MISC,Miscellaneous content,2026-12-01,test,\n"  # fmt: skip
# The normal config: a helper refused at once, so runs take a few seconds. STUCK_HELPER: one
# looked up with getaddrinfo, which hangs, with a timeout longer than the test.
QUICK_HELPER = {"helper": "http://127.0.0.1:1/", "helper_timeout_s": 5}
STUCK_HELPER = {"helper": "http://helper.stuck.test:8780/", "helper_timeout_s": 600}
PROBE_TOML = """\
[storage]
data_dir = "/var/lib/probe"
[resolver]
servers = ["udp://127.0.0.1:53"]
[control]
helpers = ["{helper}"]
doh = []
helper_timeout_s = {helper_timeout_s}
sites = ["https://collector.example.org/api/v1/health"]
[tls]
ca_bundle = "/etc/probe/caddy-root.crt"
[network]
routable = ["127.0.0.1/32"]
[timeouts]
dns = 1
connect = 1
tls = 1
http = 2
[measure]
attempts = 1
[packets]
enabled = false
[throughput]
enabled = false
[upload]
collectors = ["https://collector.example.org"]
every = "1h"
ca_bundle = "/etc/probe/caddy-root.crt"
[[schedule.jobs]]
name = "web"
targets = ["https://collector.example.org/"]
every = "20s"
[[schedule.jobs]]
name = "test-list"
input_file = "/etc/probe/kz.csv"
every = "1h"
"""
# The container's only resolver: answers collector.example.org's A query with 127.0.0.1 (an
# empty answer for its other types), logs every query and never answers any other name.
RESOLVER = """
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
while True:
    q, peer = s.recvfrom(4096)
    open("/run/resolver.log", "ab").write(q + b"\\n")
    end = q.index(b"\\0", 12) + 5
    if q[12:end - 4] != b"\\x09collector\\x07example\\x03org\\0":
        continue
    is_a = q[end - 4:end - 2] == b"\\0\\1"
    head = q[:2] + b"\\x81\\x80\\0\\1" + struct.pack(">HHH", int(is_a), 0, 0)
    answer = b"\\xc0\\x0c\\0\\1\\0\\1\\0\\0\\0\\x3c\\0\\4\\x7f\\0\\0\\1" if is_a else b""
    s.sendto(head + q[12:end] + answer, peer)
"""
_FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


def _logfmt(line: str) -> dict[str, str]:
    return {k: json.loads(v) if v.startswith('"') else v for k, v in _FIELD.findall(line)}


class Deployed:
    def __init__(self, container: Container) -> None:
        self.c = container

    def journal(self, unit: str = "probe") -> list[str]:
        return self.c.sh(f"journalctl -u {unit} -o cat --no-pager").stdout.splitlines()

    def events(self, since: int = 0, unit: str = "probe") -> list[dict[str, str]]:
        return [_logfmt(line) for line in self.journal(unit)[since:] if "event=" in line]

    def show(self, *props: str) -> dict[str, str]:
        out = self.c.sh(f"systemctl show probe -p {','.join(props)}").stdout
        return dict(line.split("=", 1) for line in out.splitlines())

    def wait(self, what: str, condition: Callable[[], bool], timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.5)
        journal = "\n".join(self.journal()[-40:])
        raise AssertionError(f"timed out waiting for {what}; the journal ends:\n{journal}")

    def running(self) -> bool:
        state = self.show("ActiveState", "SubState", "StatusText")
        return (state["ActiveState"], state["SubState"]) == ("active", "running") and state[
            "StatusText"
        ].startswith("running")

    def drop_in(self, text: str | None) -> None:
        directory = "/etc/systemd/system/probe.service.d"
        if text is None:
            self.c.sh(f"rm -rf {directory} && systemctl daemon-reload")
        else:
            self.c.sh(f"mkdir -p {directory} && cat > {directory}/test.conf <<'EOF'\n"
                      f"[Service]\n{text}\nEOF\nsystemctl daemon-reload")  # fmt: skip


def _boot(tmp: Path) -> Container:
    if os.geteuid() != 0:
        raise NotBootable("needs root (debootstrap, overlay mounts, systemd-nspawn)")
    blocks = docs.blocks()
    lower = ensure_rootfs(docs.apt_packages(blocks))
    wheels = ensure_wheels(docs.REPO)
    checkout = snapshot_checkout(docs.REPO, tmp / "checkout")
    fixtures = tmp / "fixtures"
    fixtures.mkdir()
    (fixtures / "kz.csv").write_text(TEST_LIST)
    binds = {checkout: docs.CHECKOUT_IN_CONTAINER, fixtures: docs.FIXTURES_IN_CONTAINER,
             wheels: "/mnt/wheels"}  # fmt: skip
    container = Container(lower, tmp / "container", binds)
    try:
        container.boot()
    except BaseException:
        container.close()
        raise
    return container


def _prepare(c: Container) -> None:
    """The test's own setup: names on loopback, the hanging resolver, pip's wheels, Caddy's CA."""
    c.sh(
        "echo '127.0.0.1 collector.example.org' >> /etc/hosts\n"
        "printf 'nameserver 127.0.0.1\\noptions timeout:30 attempts:5\\n' > /etc/resolv.conf\n"
        "printf '[global]\\nno-index = true\\nfind-links = /mnt/wheels\\n' > /etc/pip.conf\n"
        f"systemd-run --unit=loopback-dns python3 -c {shlex.quote(RESOLVER)}\n"
        "printf '{\\n\\tlocal_certs\\n\\tskip_install_trust\\n}\\n' | cat - /etc/caddy/Caddyfile"
        " > /tmp/Caddyfile && cat /tmp/Caddyfile > /etc/caddy/Caddyfile\n"
    )


def _write_config(c: Container, helper: dict[str, object]) -> None:
    c.sh(f"cat > /etc/probe/probe.toml <<'EOF'\n{PROBE_TOML.format(**helper)}EOF")


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    started = time.monotonic()
    try:
        container = _boot(tmp_path_factory.mktemp("deployment"))
    except NotBootable as exc:
        pytest.skip(f"no systemd container on this machine: {exc} (cache: {CACHE})")
    print(f"\nbuilt/booted in {time.monotonic() - started:.0f} s")
    blocks = docs.blocks()
    try:
        _prepare(container)
        container.sh(docs.script(blocks, "user"))
        container.sh(docs.script(blocks, "install"), timeout=600)
        container.sh(docs.script(blocks, "collector"), timeout=600)
        init = container.sh(docs.script(blocks, "init"), stdin="y\n", tty=True)
        assert "Do you understand the risks" in init.stdout + init.stderr, init
        container.sh(f"install -m 0640 -g probe {docs.CADDY_ROOT} /etc/probe/caddy-root.crt")
        _write_config(container, QUICK_HELPER)
        container.sh(docs.script(blocks, "test-list"))
        container.sh(docs.script(blocks, "service"))
        yield Deployed(container)
    finally:
        container.close()


def test_active_running_with_ready_and_the_journal_as_documented(deployed: Deployed) -> None:
    out = deployed.c.sh(docs.script(docs.blocks(), "check", strict=False)).stdout
    assert "active (running)" in out and 'Status: "running 2 job(s)"' in out, out
    events = [e.get("event") for e in deployed.events()]
    assert events.index("job.scheduled") < events.index("daemon.start"), events
    assert "daemon.start" in events, events


def test_security_score_of_the_live_unit(deployed: Deployed) -> None:
    out = deployed.c.sh("systemd-analyze security probe").stdout
    match = re.search(r"Overall exposure level for probe.service: (\d+\.\d+)", out)
    assert match and float(match.group(1)) <= MAX_EXPOSURE, out


def test_config_is_read_only_inside_the_sandbox(deployed: Deployed) -> None:
    pid = deployed.show("MainPID")["MainPID"]
    mounts = deployed.c.sh(f"cat /proc/{pid}/mountinfo").stdout.splitlines()
    etc_probe = [m.split() for m in mounts if m.split()[4] == "/etc/probe"]
    assert etc_probe and "ro" in etc_probe[-1][5].split(","), mounts


def test_reload_with_a_good_then_a_bad_config(deployed: Deployed) -> None:
    pid = deployed.show("MainPID")["MainPID"]
    mark = len(deployed.journal())
    deployed.c.sh('sed -i \'s/every = "1h"/every = "2h"/\' /etc/probe/probe.toml')
    deployed.c.sh(docs.script(docs.blocks(), "reload"))
    deployed.wait("reload.ok", lambda: any(e.get("event") == "reload.ok"
                                           for e in deployed.events(mark)))  # fmt: skip
    mark = len(deployed.journal())
    deployed.c.sh("cp /etc/probe/probe.toml /root/good.toml && "
                  "echo '[nonsense]' >> /etc/probe/probe.toml")  # fmt: skip
    assert deployed.c.sh("systemctl reload probe").returncode == 0  # as the docs warn
    deployed.wait("reload.failed", lambda: any(e.get("event") == "reload.failed"
                                               for e in deployed.events(mark)))  # fmt: skip
    status = deployed.c.sh("systemctl status probe", check=False).stdout
    assert "reload failed: keeping the previous config" in status, status
    assert deployed.show("MainPID")["MainPID"] == pid, "a failed reload keeps the daemon"
    deployed.c.sh("cp /root/good.toml /etc/probe/probe.toml && systemctl reload probe")
    deployed.wait("running again", deployed.running)


def test_a_missing_test_list_exits_2_without_restart_and_the_table_names_it(
    deployed: Deployed,
) -> None:
    c = deployed.c
    c.sh("mv /etc/probe/kz.csv /root/kz.csv")
    assert c.sh("systemctl restart probe", check=False).returncode != 0
    state = deployed.show("Result", "ExecMainStatus", "ActiveState", "NRestarts")
    assert (state["Result"], state["ExecMainStatus"]) == ("exit-code", "2"), state
    line = next(line for line in reversed(deployed.journal()) if "cannot read the input" in line)
    table = docs.DEPLOYMENT.read_text().split("### If it does not start", 1)[1]
    assert "`/etc/probe/kz.csv: cannot read the input file`" in table
    assert "/etc/probe/kz.csv: cannot read the input file" in line, line
    c.sh("mv /root/kz.csv /etc/probe/kz.csv && systemctl restart probe")
    assert deployed.running()


def test_sigkill_and_the_watchdog_restart_the_daemon(deployed: Deployed) -> None:
    c = deployed.c
    deployed.drop_in("RestartSec=1s\nWatchdogSec=3s\nTimeoutAbortSec=5s")
    c.sh("systemctl restart probe")
    for how in ("kill -KILL", "kill -STOP"):  # SIGSTOP: no watchdog ping, systemd aborts it
        before = deployed.show("MainPID", "NRestarts")
        c.sh(f"{how} {before['MainPID']}")

        def restarted(count: str = before["NRestarts"]) -> bool:
            return deployed.running() and deployed.show("NRestarts")["NRestarts"] != count

        deployed.wait(f"a restart after {how}", restarted)
        assert deployed.show("MainPID")["MainPID"] != before["MainPID"]
    journal = "\n".join(deployed.journal())
    assert "Watchdog timeout" in journal, journal[-3000:]
    deployed.drop_in(None)
    c.sh("systemctl restart probe")


def test_a_stop_during_a_run_with_hanging_lookups_is_recorded_as_interrupted(
    deployed: Deployed,
) -> None:
    c = deployed.c
    _write_config(c, STUCK_HELPER)
    c.sh(": > /run/resolver.log && systemctl reload probe")
    mark = len(deployed.journal())
    deployed.wait("a run of `web` stuck looking up its helper", lambda: any(
        e.get("event") == "run.start" and e.get("job") == "web" for e in deployed.events(mark)
    ) and c.sh("grep -qa stuck /run/resolver.log", check=False).returncode == 0)  # fmt: skip
    stop = c.sh("systemctl stop probe", check=False)
    assert stop.returncode == 0, stop
    state = deployed.show("Result", "ActiveState")
    assert state == {"Result": "success", "ActiveState": "inactive"}, state
    events = deployed.events(mark)
    assert not [e for e in events if e.get("event") == "run.crashed"], events
    finishes = [e for e in events if e.get("event") == "run.finish" and e.get("job") == "web"]
    assert finishes and finishes[-1].get("status") == "interrupted", events
    journal = "\n".join(deployed.journal()[mark:])
    assert "Killing" not in journal and "SIGKILL" not in journal, journal
    _write_config(c, QUICK_HELPER)
    c.sh("systemctl start probe")


def test_an_upload_reaches_the_collector_behind_caddy(deployed: Deployed) -> None:
    c = deployed.c
    deployed.wait("a stored result", lambda: "web" in c.sh(
        "sudo -u probe /opt/probe/bin/probe results --json --config /etc/probe/probe.toml"
    ).stdout)  # fmt: skip
    out = c.sh(docs.script(docs.blocks(), "upload", strict=False)).stdout
    assert "outbox" in out.lower(), out
    health = c.sh(f"curl -sf --cacert {docs.CADDY_ROOT} "
                  "https://collector.example.org/api/v1/health").stdout  # fmt: skip
    counts = json.loads(health)
    assert counts["measurements"] >= 1 and counts["probes"] == 1, counts


def test_the_service_comes_back_after_a_reboot(deployed: Deployed) -> None:
    deployed.c.reboot()
    deployed.wait("probe running after the reboot", deployed.running)
    assert deployed.c.sh("systemctl is-active probe-collector caddy").returncode == 0
