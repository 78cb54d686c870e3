"""A Debian 12 booted with systemd as PID 1 in a `systemd-nspawn` container, for tests/deployment.

- The root file system is debootstrapped once into a cache outside the repository
  (`$PROBE_DEPLOY_CACHE`, default /var/cache/probe-tests/debian12) and reused while its
  `.complete` marker names the same packages; each test session boots an overlay of it, so the
  cache itself is never written.
- The host has no systemd and no D-Bus: nspawn needs `--register=no --keep-unit` (either alone
  fails with "Failed to open system bus"), `--console=read-only`, and commands go in with
  `nsenter --target <container's PID 1> --all` (machinectl and `systemd-run -M` cannot work).
- `--private-network`: the container has only its own loopback.
- pip in the container installs from wheels the host built (`pip wheel`, with the host's own
  index settings) and a bind mount carries in: the container reaches no package index.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

CACHE = Path(os.environ.get("PROBE_DEPLOY_CACHE", "/var/cache/probe-tests"))
MIRROR = "http://deb.debian.org/debian"
SUITE = "bookworm"
# What booting needs, besides the packages the docs install.
BOOT_PACKAGES = ("systemd", "systemd-sysv", "dbus", "iproute2", "procps")
BOOT_TIMEOUT_S = 90.0
IN_CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
NSPAWN_EXIT_REBOOT = 133


class NotBootable(Exception):
    """This machine cannot build or boot the container; the message says why."""


def _locked(path: Path) -> object:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a")
    fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


def ensure_rootfs(packages: list[str]) -> Path:
    """The cached root file system with `packages`; built (about a minute) when missing."""
    for tool in ("debootstrap", "systemd-nspawn", "nsenter"):
        if shutil.which(tool) is None:
            raise NotBootable(
                f"{tool} is not installed (apt-get install debootstrap systemd-container)"
            )
    wanted = sorted({*BOOT_PACKAGES, *packages})
    root = CACHE / "debian12"
    marker = root / ".complete"
    lock = _locked(CACHE / "debian12.lock")
    try:
        if marker.is_file() and marker.read_text().split() == wanted:
            return root
        partial = CACHE / "debian12.partial"
        shutil.rmtree(partial, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)
        argv = ["debootstrap", "--variant=minbase", f"--include={','.join(wanted)}", SUITE,
                str(partial), MIRROR]  # fmt: skip
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False)
        if proc.returncode != 0:
            raise NotBootable(f"debootstrap failed ({proc.returncode}): {proc.stdout[-2000:]}")
        (partial / "etc" / "hostname").write_text("probe-test\n")
        (partial / "etc" / "hosts").write_text("127.0.0.1 localhost probe-test\n::1 localhost\n")
        (partial / ".complete").write_text("\n".join(wanted) + "\n")
        partial.rename(root)
        return root
    finally:
        lock.close()  # type: ignore[attr-defined]


def ensure_wheels(checkout: Path, extras: str = "collector") -> Path:
    """Wheels of every dependency of `probe[extras]` and of its build backend, built by the
    host's pip into the cache; reused while pyproject.toml and the interpreter are the same."""
    pyproject = (checkout / "pyproject.toml").read_bytes()
    key = hashlib.sha256(pyproject + sys.version.encode() + extras.encode()).hexdigest()[:16]
    wheels = CACHE / f"wheels-{key}"
    lock = _locked(CACHE / "wheels.lock")
    try:
        if (wheels / ".complete").is_file():
            return wheels
        shutil.rmtree(wheels, ignore_errors=True)
        pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
        for argv in (
            [*pip, "wheel", "--wheel-dir", str(wheels), f"{checkout}[{extras}]"],
            [*pip, "download", "--dest", str(wheels), "setuptools>=77", "wheel"],
        ):
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False)
            if proc.returncode != 0:
                raise NotBootable(f"pip could not fetch the wheels: {proc.stderr[-2000:]}")
        for own in wheels.glob("probe-*.whl"):
            own.unlink()  # the container builds probe from its own checkout
        (wheels / ".complete").write_text(key + "\n")
        return wheels
    finally:
        lock.close()  # type: ignore[attr-defined]


def snapshot_checkout(checkout: Path, dest: Path) -> Path:
    """A git repository holding the checkout's working tree as one commit (tracked files as they
    are now, and untracked ones git does not ignore): what `git clone` in the docs clones."""
    listed = subprocess.run(
        ["git", "-C", str(checkout), "ls-files", "-z", "--cached", "--others",
         "--exclude-standard"], capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = checkout / name
        if source.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    git = ["git", "-C", str(dest), "-c", "user.name=test", "-c", "user.email=test@localhost"]
    for argv in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "snapshot"]):
        subprocess.run([*git, *argv], check=True, capture_output=True)
    return dest


class Container:
    """One booted container over an overlay of the cached root file system."""

    def __init__(self, lower: Path, workdir: Path, binds: dict[Path, str]) -> None:
        self.root = workdir / "root"
        for sub in ("upper", "work", "root"):
            (workdir / sub).mkdir(parents=True, exist_ok=True)
        options = f"lowerdir={lower},upperdir={workdir / 'upper'},workdir={workdir / 'work'}"
        argv = ["mount", "-t", "overlay", "overlay", "-o", options, str(self.root)]
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise NotBootable(f"cannot mount an overlay over the root file system: {proc.stderr}")
        self.binds = binds
        self.console = workdir / "console.log"
        self.nspawn: subprocess.Popen[bytes] | None = None
        self.leader = 0

    def boot(self) -> None:
        argv = ["systemd-nspawn", "-D", str(self.root), "--boot", "--register=no",
                "--keep-unit", "--console=read-only", "--private-network",
                "--machine=probe-test"]  # fmt: skip
        argv += [f"--bind-ro={host}:{inside}" for host, inside in self.binds.items()]
        with self.console.open("ab") as console:
            self.nspawn = subprocess.Popen(argv, stdout=console, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + BOOT_TIMEOUT_S
        state = ""
        while time.monotonic() < deadline:
            if self.nspawn.poll() is not None:
                raise NotBootable(
                    f"systemd-nspawn exited ({self.nspawn.returncode}): {self.tail()}"
                )
            self.leader = self._leader()
            if self.leader:
                state = self.sh("systemctl is-system-running", check=False).stdout.strip()
                if state in {"running", "degraded"}:
                    return
            time.sleep(0.2)
        raise NotBootable(f"the container did not boot (state {state!r}): {self.tail()}")

    def tail(self) -> str:
        return self.console.read_text(errors="replace")[-3000:]

    def _leader(self) -> int:
        assert self.nspawn is not None
        children = Path(f"/proc/{self.nspawn.pid}/task/{self.nspawn.pid}/children")
        try:
            pids = children.read_text().split()
        except OSError:
            return 0
        return int(pids[0]) if pids else 0

    def sh(
        self,
        script: str,
        *,
        check: bool = True,
        stdin: str | None = None,
        timeout: float = 300,
        tty: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """Run `script` with bash as root inside the container, with a clean environment;
        `tty`: on a pseudo-terminal (script(1)), which reads `stdin` as typed answers."""
        command = ["bash", "-c", script]
        if tty:
            command = ["script", "-qec", shlex.join(command), "/dev/null"]
        argv = ["nsenter", "--target", str(self.leader), "--all", "env", "-i",
                f"PATH={IN_CONTAINER_PATH}", "HOME=/root", "LANG=C.UTF-8", "TERM=dumb",
                "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0", *command]  # fmt: skip
        proc = subprocess.run(
            argv, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"in the container, exit {proc.returncode}:\n{script}\n--- stdout\n"
                f"{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}"
            )
        return proc

    def reboot(self) -> None:
        """`systemctl reboot` inside; nspawn exits with 133 (as systemd-nspawn@.service restarts
        on it) and the same overlay boots again."""
        assert self.nspawn is not None
        self.sh("systemctl reboot", check=False)
        status = self.nspawn.wait(BOOT_TIMEOUT_S)
        assert status == NSPAWN_EXIT_REBOOT, f"nspawn exited {status}, not 133: {self.tail()}"
        self.boot()

    def close(self) -> None:
        if self.nspawn is not None and self.nspawn.poll() is None:
            self.sh("systemctl poweroff", check=False, timeout=30)
            try:
                self.nspawn.wait(60)
            except subprocess.TimeoutExpired:
                self.nspawn.send_signal(signal.SIGKILL)
                self.nspawn.wait(10)
        subprocess.run(["umount", str(self.root)], check=False, capture_output=True)
