"""Run `probe` commands and `probe daemon` as real processes against the loopback world.

`ProbeHome` is one probe installation: a config file and a data dir in a test's tmp_path,
initialised with `probe init --yes`. `DaemonProcess` starts `probe daemon` with a real
sd_notify socket and follows its logfmt log lines.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from probe.models.stored import StoredResult

_FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


def parse_logfmt(line: str) -> dict[str, str]:
    """Return the key=value fields of one logfmt line (quoted values unquoted)."""
    fields = {}
    for key, value in _FIELD.findall(line):
        fields[key] = json.loads(value) if value.startswith('"') else value
    return fields


@dataclass
class ProbeHome:
    root: Path
    base_config: str  # everything but [storage] and the jobs
    data_dir: Path = field(init=False)
    config: Path = field(init=False)

    def __post_init__(self) -> None:
        self.data_dir = self.root / "data"
        self.config = self.root / "probe.toml"

    def write_config(self, jobs: str, extra: str = "", storage: str = "") -> None:
        text = (
            f'{self.base_config}\n[storage]\ndata_dir = "{self.data_dir}"\n{storage}\n'
            f"{extra}\n{jobs}\n"
        )
        self.config.write_text(text, encoding="utf-8")

    def probe(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "probe", *args]
        if args and args[0] in {"init", "run", "results", "status", "daemon", "upload"}:
            argv += ["--config", str(self.config)]
        return subprocess.run(
            argv, capture_output=True, text=True, check=False, timeout=timeout, env=_env()
        )

    def init(self) -> None:
        proc = self.probe("init", "--yes")
        assert proc.returncode == 0, proc.stderr

    def stored(self) -> list[StoredResult]:
        proc = self.probe("results", "--json")
        assert proc.returncode == 0, proc.stderr
        return [StoredResult.model_validate_json(line) for line in proc.stdout.splitlines()]

    def status(self) -> dict[str, object]:
        proc = self.probe("status", "--json")
        assert proc.returncode == 0, proc.stderr
        loaded: dict[str, object] = json.loads(proc.stdout)
        return loaded


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROBE_")}
    for key in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "STATE_DIRECTORY"):
        env.pop(key, None)
    env.update(extra or {})
    return env


class DaemonProcess:
    """`probe daemon` as a child process, with a notify socket and its log on a file."""

    def __init__(self, home: ProbeHome, *, watchdog_usec: int | None = None) -> None:
        self.home = home
        self.log_path = home.root / f"daemon-{time.monotonic_ns()}.log"
        self.notify_path = home.root / f"notify-{time.monotonic_ns()}.sock"
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(self.notify_path))
        self.notify.settimeout(0.05)
        self.messages: list[str] = []
        # Read the notify socket all the time, as systemd does: a queue left unread holds only
        # net.unix.max_dgram_qlen datagrams, and the daemon (never blocking) drops what follows,
        # e.g. STOPPING=1 behind the watchdog pings sent while a test waited on something else.
        self._reading = threading.Event()
        self._reader = threading.Thread(target=self._read_notify, daemon=True)
        self._reader.start()
        extra = {"NOTIFY_SOCKET": str(self.notify_path)}
        if watchdog_usec is not None:
            extra["WATCHDOG_USEC"] = str(watchdog_usec)
        argv = [sys.executable, "-m", "probe", "daemon", "--config", str(home.config)]
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            argv, stdout=self._log, stderr=subprocess.STDOUT, env=_env(extra), text=True
        )

    def __repr__(self) -> str:
        return f"DaemonProcess({shlex.join(self.proc.args)})"  # type: ignore[arg-type]

    def lines(self) -> list[dict[str, str]]:
        return [parse_logfmt(line) for line in self.log_path.read_text().splitlines()]

    def log_text(self) -> str:
        return self.log_path.read_text()

    def events(self, name: str) -> list[dict[str, str]]:
        return [line for line in self.lines() if line.get("event") == name]

    def _read_notify(self) -> None:
        while not self._reading.is_set():
            try:
                self.messages.append(self.notify.recv(4096).decode())
            except TimeoutError:
                continue
            except OSError:
                return

    def received(self) -> list[str]:
        """Return the notify messages received so far (a reader thread collects them)."""
        return list(self.messages)

    def wait_for(
        self, condition: Callable[[], bool], timeout: float = 30, what: str = "condition"
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"daemon exited ({self.proc.returncode}) waiting for {what}:\n"
                    + self.log_text()
                )
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}:\n{self.log_text()}")

    def wait_event(self, name: str, count: int = 1, timeout: float = 30) -> list[dict[str, str]]:
        self.wait_for(lambda: len(self.events(name)) >= count, timeout, f"{count}× {name}")
        return self.events(name)

    def wait_ready(self, timeout: float = 30) -> None:
        self.wait_for(lambda: any("READY=1" in m for m in self.received()), timeout, "READY=1")

    def signal(self, signum: signal.Signals) -> None:
        self.proc.send_signal(signum)

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM and wait; return the exit status. A traceback in the log fails the test."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            status = self.proc.wait(timeout)
        finally:
            self.close()
        text = self.log_text()
        assert "Traceback" not in text, text[max(0, text.find("Traceback") - 300) :]
        return status

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)
        self.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._log.close()
        if self.notify.fileno() != -1:
            self._reading.set()  # the reader keeps what arrived before the socket goes
            self._reader.join(5)
            self.notify.close()
        self.notify_path.unlink(missing_ok=True)
