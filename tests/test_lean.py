"""probe/lean.py: a command that is done ends without the interpreter's teardown (issue 19).

Each case runs in a fresh interpreter. A module-level object whose finaliser prints only runs
at the interpreter's teardown; an atexit handler must run either way.
"""

from __future__ import annotations

import subprocess
import sys

PRELUDE = (
    "import atexit, threading, time\n"
    "from probe import lean\n"
    "class Witness:\n"
    "    def __del__(self):\n"
    "        print('teardown', flush=True)\n"
    "witness = Witness()\n"
    "atexit.register(print, 'atexit')\n"
    "print('output', end='')  # left in the buffer: exit_process must flush it\n"
)


def _run(body: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PRELUDE + body], capture_output=True, text=True, timeout=60
    )


def test_a_finished_command_ends_at_once() -> None:
    done = _run("lean.may_end_at_once()\nlean.exit_process(3)\n")
    assert done.returncode == 3
    assert done.stdout.split() == ["outputatexit"], done.stdout  # flushed, handlers, no teardown


def test_without_the_command_saying_so_the_exit_is_ordinary() -> None:
    done = _run("lean.exit_process(3)\n")
    assert done.returncode == 3
    assert done.stdout.split() == ["outputatexit", "teardown"], done.stdout


def test_a_live_thread_is_waited_for() -> None:
    body = (
        "def late():\n"
        "    time.sleep(0.2)\n"
        "    print('thread', flush=True)\n"
        "threading.Thread(target=late).start()\n"
        "lean.may_end_at_once()\n"
        "lean.exit_process(0)\n"
    )
    done = _run(body)
    assert done.returncode == 0
    assert done.stdout.split() == ["outputthread", "atexit", "teardown"], done.stdout


def test_httpx_runs_on_asyncio_without_trio() -> None:
    """`skip_trio()`: httpcore, which imports trio when installed, works without it (a real
    request to a loopback server)."""
    code = (
        "import asyncio, http.server, sys, threading\n"
        "from probe import lean\n"
        "lean.skip_trio()\n"
        "import httpx\n"
        "server = http.server.HTTPServer(('127.0.0.1', 0), http.server.SimpleHTTPRequestHandler)\n"
        "threading.Thread(target=server.serve_forever, daemon=True).start()\n"
        "async def get():\n"
        "    async with httpx.AsyncClient() as client:\n"
        "        return await client.get(f'http://127.0.0.1:{server.server_port}/')\n"
        "print(asyncio.run(get()).status_code, 'trio' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd="/"
    )
    assert done.stdout.split() == ["200", "False"], done.stderr


def test_the_collector_is_held_off_for_the_imports_only() -> None:
    """`collect_later()` pauses the cyclic garbage collector; `collect_from_here()` freezes
    what was allocated (the modules) and lets it run again, once."""
    code = (
        "import gc\n"
        "from probe import lean\n"
        "lean.collect_later()\n"
        "paused = not gc.isenabled()\n"
        "import probe.config\n"
        "lean.collect_from_here()\n"
        "frozen = gc.get_freeze_count()\n"
        "lean.collect_from_here()  # idempotent: nothing frozen twice\n"
        "print(paused, gc.isenabled(), frozen > 10_000, gc.get_freeze_count() == frozen)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["True", "True", "True", "True"], done.stderr


def test_a_check_measures_with_the_collector_running() -> None:
    """`probe check` holds the collector off while it imports, not after: here its settings
    fail to load right after the imports, and the collector runs again."""
    code = (
        "import atexit, gc\n"
        "atexit.register(lambda: print(gc.isenabled(), gc.get_freeze_count() > 0))\n"
        "from probe.cli.app import main\n"
        "main(['check', '--json', '--config', '/nonexistent/probe.toml', 'example.com'])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stdout.split() == ["True", "True"], done.stdout
