"""`serve()`, as `probe helper` runs it: binding, HTTP and HTTPS, readiness, shutdown, errors."""

from __future__ import annotations

import asyncio
import socket
import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from probe.config import Settings
from probe.errors import ConfigError
from probe.helper import serve
from probe.helper.server import parse_listen


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _exchange(settings: Settings, listen: str, verify: Any = True) -> list[httpx.Response]:
    """Return the answers to GET / and a malformed POST from a helper served on `listen`."""
    ready = asyncio.Event()
    task = asyncio.create_task(serve(settings, listen=listen, ready=ready))
    try:
        await asyncio.wait_for(ready.wait(), timeout=10)
        scheme = "https" if settings.helper.tls_cert else "http"
        async with httpx.AsyncClient(base_url=f"{scheme}://{listen}", verify=verify) as client:
            return [await client.get("/"), await client.post("/", content=b"{")]
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def test_serves_http_until_cancelled() -> None:
    listen = f"127.0.0.1:{_free_port()}"
    hello, malformed = asyncio.run(_exchange(Settings(), listen))
    assert hello.status_code == 200 and "OONItarian" in hello.json()["message"]
    assert "server" not in hello.headers, "server_header=False"
    assert malformed.status_code == 400 and "malformed JSON" in malformed.json()["error"]
    with pytest.raises(ConnectionRefusedError):  # the listening socket is closed on the way out
        socket.create_connection(("127.0.0.1", int(listen.rsplit(":", 1)[1])), timeout=2).close()


def test_serves_https_with_the_configured_certificate(tmp_path: Path) -> None:
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    settings = Settings(helper={"tls_cert": str(cert), "tls_key": str(key)})
    verify = ssl.create_default_context()
    ca.configure_trust(verify)
    hello, _ = asyncio.run(_exchange(settings, f"127.0.0.1:{_free_port()}", verify=verify))
    assert hello.status_code == 200


BAD_LISTEN = ["nonsense", "127.0.0.1", ":8780", "127.0.0.1:http", "127.0.0.1:70000"]


@pytest.mark.parametrize("listen", BAD_LISTEN)
def test_bad_listen_addresses_are_config_errors(listen: str) -> None:
    with pytest.raises(ConfigError, match="HOST:PORT"):
        parse_listen(listen)


def test_ipv6_listen_address() -> None:
    assert parse_listen("[::]:8780") == ("::", 8780)


def test_a_busy_port_is_a_config_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        listen = f"127.0.0.1:{busy.getsockname()[1]}"
        with pytest.raises(ConfigError, match="cannot listen"):
            asyncio.run(serve(Settings(), listen=listen))


def test_a_certificate_without_key_is_a_config_error(tmp_path: Path) -> None:
    settings = Settings(helper={"tls_cert": str(tmp_path / "cert.pem")})
    with pytest.raises(ConfigError, match="tls_key"):
        asyncio.run(serve(settings, listen="127.0.0.1:0"))


def test_an_unreadable_certificate_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text("not a certificate")
    (tmp_path / "key.pem").write_text("not a key")
    settings = Settings(
        helper={"tls_cert": str(tmp_path / "cert.pem"), "tls_key": str(tmp_path / "key.pem")}
    )
    with pytest.raises(ConfigError, match="tls_cert"):
        asyncio.run(serve(settings, listen="127.0.0.1:0"))


def test_a_missing_asn_database_is_a_config_error(tmp_path: Path) -> None:
    settings = Settings(geoip={"asn_db": str(tmp_path / "missing.mmdb")})
    with pytest.raises(ConfigError, match="geoip"):
        asyncio.run(serve(settings, listen="127.0.0.1:0"))
