"""The lab's servers, one process per namespace: `python -m lab.serve internet|isp RUN_DIR`.

Every server re-reads RUN_DIR/scenario.json when it changes, so a scenario switches behaviour
(platform down, resolver lies, interception on) without restarting anything. Written for the lab
only: small, permissive, and bounded so a confused client cannot wedge it.

internet: authoritative DNS (203.0.113.5) and a public resolver (203.0.113.53) answering from the
    world's names, DoH (203.0.113.54), every internet site on :80 and :443.
isp: the ISP resolver (10.77.0.53, forwarding to the authoritative server, with the scenario's
    lies), the block page, the captive portal, the domestic sites, and the interception box on
    198.51.100.44 (:443 routes by SNI: genuine passthrough or forged certificate; :80 is a
    transparent HTTP proxy that can serve a block page or redirect to it).
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import ssl
import struct
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import dns.asyncquery
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

from . import world

HEAD_LIMIT = 16 << 10
IO_TIMEOUT_S = 10.0
SO_ORIGINAL_DST = 80
OBJECT = world.object_chunk()


class State:
    """The current scenario.json, re-read when its modification time changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp = -1
        self._data: dict[str, Any] = {}

    def get(self) -> dict[str, Any]:
        try:
            stamp = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return {}
        if stamp != self._stamp:
            self._data = json.loads(self.path.read_text())
            self._stamp = stamp
        return self._data


def _matches(name: str, suffixes: list[str]) -> bool:
    name = name.lower().rstrip(".")
    return any(name == s or name.endswith("." + s) for s in suffixes)


# DNS -------------------------------------------------------------------------------------------

Answer = Callable[[dns.message.Message], Awaitable[dns.message.Message | None]]


def world_answer(state: State) -> Answer:
    """Return the authoritative answerer: the world's names, with the scenario's delays."""

    async def answer(query: dns.message.Message) -> dns.message.Message | None:
        settings = state.get().get("dns", {})
        response = dns.message.make_response(query)
        response.flags |= dns.flags.RA
        if not query.question:
            response.set_rcode(dns.rcode.FORMERR)
            return response
        question = query.question[0]
        name = question.name.to_text().rstrip(".").lower()
        for suffix, delay_s in settings.get("delay_s", {}).items():
            if _matches(name, [suffix]):
                await asyncio.sleep(delay_s)
        site = world.site_for(name)
        ipv4 = world.address_for(name)
        if ipv4 is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
            return response
        address = None
        if question.rdtype == dns.rdatatype.A:
            address = ipv4
        elif question.rdtype == dns.rdatatype.AAAA and settings.get("ipv6") and site is not None:
            address = site.ipv6
        if address:
            response.answer.append(
                dns.rrset.from_text(question.name, 300, "IN", question.rdtype, address)
            )
        return response

    return answer


def isp_answer(state: State) -> Answer:
    """Return the ISP resolver: forwards upstream, except where the scenario makes it lie."""

    async def answer(query: dns.message.Message) -> dns.message.Message | None:
        settings = state.get().get("isp_dns", {})
        mode = settings.get("mode", "forward")
        if mode == "silent" or not query.question:
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.RA
        if mode == "servfail":
            response.set_rcode(dns.rcode.SERVFAIL)
            return response
        question = query.question[0]
        for rule in settings.get("rules", []):
            if not _matches(question.name.to_text(), rule["suffixes"]):
                continue
            action = rule["action"]
            if action == "drop":
                return None
            if action in ("nxdomain", "servfail"):
                response.set_rcode(dns.rcode.from_text(action.upper()))
                return response
            if question.rdtype == dns.rdatatype.A:  # "answer": a lie for A, nothing for AAAA
                response.answer.append(
                    dns.rrset.from_text(question.name, 300, "IN", "A", rule["address"])
                )
            return response
        try:
            return await dns.asyncquery.udp(query, world.AUTHORITATIVE_ADDRESS, timeout=1.5)
        except Exception:  # upstream gone (an outage scenario): what a resolver says then
            response.set_rcode(dns.rcode.SERVFAIL)
            return response

    return answer


class _DnsUdp(asyncio.DatagramProtocol):
    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.transport: Any = None
        self.pending: set[asyncio.Future[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        task = asyncio.ensure_future(self._reply(data, addr))
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def _reply(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            query = dns.message.from_wire(data)
        except Exception:
            return
        response = await self.answer(query)
        if response is not None:
            self.transport.sendto(response.to_wire(), addr)


def dns_tcp(answer: Answer) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                size = struct.unpack("!H", await reader.readexactly(2))[0]
                query = dns.message.from_wire(await reader.readexactly(size))
                response = await answer(query)
                if response is None:
                    continue
                wire = response.to_wire()
                writer.write(struct.pack("!H", len(wire)) + wire)
                await writer.drain()
        except Exception:
            pass
        finally:
            writer.close()

    return handle


async def serve_dns(address: str, answer: Answer, dot: ssl.SSLContext | None = None) -> None:
    loop = asyncio.get_running_loop()
    await loop.create_datagram_endpoint(lambda: _DnsUdp(answer), local_addr=(address, 53))
    await asyncio.start_server(dns_tcp(answer), address, 53)
    if dot is not None:
        await asyncio.start_server(dns_tcp(answer), address, 853, ssl=dot)


# HTTP ------------------------------------------------------------------------------------------


async def read_head(reader: asyncio.StreamReader) -> bytes:
    """Return the request head (through the blank line), or b"" if the client gave none."""
    try:
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IO_TIMEOUT_S)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, OSError):
        return b""


async def read_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes | None:
    """Return the request head, or None (the connection closed) if the client sent none."""
    head = await read_head(reader)
    if not head:
        writer.close()
        return None
    return head


def head_fields(head: bytes) -> tuple[str, str, dict[str, str]]:
    """Return method, path and lower-cased headers of a request head."""
    lines = head.decode("latin-1").split("\r\n")
    method, path, *_ = ([*lines[0].split(" "), "", ""])[:3]
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            key, value = line.split(":", 1)
            headers[key.strip().lower()] = value.strip()
    return method, path, headers


HTML = "text/html; charset=utf-8"


def response(
    status: int,
    body: bytes,
    extra: tuple[tuple[str, str], ...] = (),
    content_type: str = HTML,
    size: int | None = None,
) -> bytes:
    """Return a response head and `body`; `size` overrides Content-Length (a streamed body)."""
    reasons = {200: "OK", 302: "Found", 403: "Forbidden", 404: "Not Found", 503: "Unavailable"}
    lines = [
        f"HTTP/1.1 {status} {reasons.get(status, 'Status')}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body) if size is None else size}",
        "Connection: close",
        "Server: lab",
        *(f"{k}: {v}" for k, v in extra),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def send(writer: asyncio.StreamWriter, data: bytes) -> None:
    try:
        writer.write(data)
        await asyncio.wait_for(writer.drain(), IO_TIMEOUT_S)
    except (OSError, TimeoutError):
        pass
    finally:
        writer.close()


async def send_large(
    writer: asyncio.StreamWriter, size: int, chunk: bytes, content_type: str = HTML
) -> None:
    """Send a `size`-byte body made of `chunk` repeated, chunk by chunk (a slow client costs no
    memory). A client that stops reading and closes early (the probe's byte or time cap) just
    ends the transfer."""
    try:
        writer.write(response(200, b"", content_type=content_type, size=size))
        sent = 0
        while sent < size:
            piece = chunk[: size - sent]
            writer.write(piece)
            await asyncio.wait_for(writer.drain(), IO_TIMEOUT_S)
            sent += len(piece)
    except (OSError, TimeoutError, ssl.SSLError):
        writer.transport.abort()  # the peer is gone: no TLS close_notify, no lingering
    finally:
        writer.close()


def page_chunk(start: bytes) -> bytes:
    """Return 64 KiB that begin like `start` (a large page keeps the site's title)."""
    return (start * (1 + (1 << 16) // len(start)))[: 1 << 16]


async def accept_and_wait(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A plain TCP service (WhatsApp's 5222): accept, wait for the client to leave."""
    try:
        await asyncio.wait_for(reader.read(1 << 16), IO_TIMEOUT_S)
    except (OSError, TimeoutError):
        pass
    finally:
        writer.close()


def site_handler(state: State, site: world.Site) -> Callable[..., Any]:
    """Return the handler of a real site: its page, or what the scenario makes it answer."""
    body = world.page(site)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if (head := await read_request(reader, writer)) is None:
            return
        _, path, headers = head_fields(head)
        host = headers.get("host", "").split(":")[0].lower()
        scenario = state.get()
        behaviour = scenario.get("sites", {}).get(site.key, {})
        peer = (writer.get_extra_info("peername") or ("",))[0]  # None: the client left
        await asyncio.sleep(float(behaviour.get("delay_s", 0)))
        cleartext = writer.get_extra_info("ssl_object") is None
        redirects = scenario.get("redirects", {})
        if behaviour.get("broken_redirect_for") == peer:
            # METHODS §11 #17: a Location with an empty host, to the probe only.
            await send(writer, response(302, b"", (("Location", "http:///"),)))
        elif behaviour.get("error_page_for") == peer:
            # Issue 17: the site's own error page, from its own server, to the probe only.
            await send(writer, response(403, world.site_error_page(site)))
        elif cleartext and (location := redirects.get(f"http://{host}")):
            # "http://HOST": only cleartext requests are redirected (to https, say).
            await send(writer, response(302, b"", (("Location", location),)))
        elif location := redirects.get(host):
            # "{next}" makes a loop that never ends: /0 → /1 → /2 …
            step = int(path.strip("/") or 0) if path.strip("/").isdigit() else 0
            target = location.replace("{next}", str(step + 1))
            await send(writer, response(302, b"", (("Location", target),)))
        elif "page_bytes" in behaviour:
            await send_large(writer, int(behaviour["page_bytes"]), page_chunk(body))
        elif "status" in behaviour:
            status = int(behaviour["status"])
            await send(writer, response(status, f"<h1>{status} from {site.title}</h1>".encode()))
        elif behaviour.get("refuse_from") == peer:
            refusal = b"<title>Access denied</title><h1>Request blocked by the site</h1>"
            await send(writer, response(403, refusal))
        elif world.is_object(path):
            await send_large(writer, world.OBJECT_BYTES, OBJECT, "application/octet-stream")
        else:
            await send(writer, response(200, body))

    return handle


async def blockpage_handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    if head := await read_head(reader):
        _, path, _ = head_fields(head)
        notice = path.split("?", 1)[0] == world.NOTICE_PATH
        await send(writer, response(200, world.notice_page() if notice else world.blockpage()))
    else:
        writer.close()


async def portal_handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    if (head := await read_request(reader, writer)) is None:
        return
    _, path, headers = head_fields(head)
    if headers.get("host", "").lower() == world.PORTAL_NAME and path.startswith("/login"):
        await send(writer, response(200, world.portal_page()))
    else:
        location = f"http://{world.PORTAL_NAME}/login"
        await send(writer, response(302, b"", (("Location", location),)))


def tls_context(pem: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pem)
    context.set_alpn_protocols(["http/1.1"])
    return context


async def listen(handler: Any, address: str, port: int, context: ssl.SSLContext | None) -> None:
    await asyncio.start_server(
        handler, address, port, ssl=context, ssl_handshake_timeout=IO_TIMEOUT_S if context else None
    )


# Interception ----------------------------------------------------------------------------------


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


async def splice(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    upstream: tuple[str, int],
    first: bytes,
    context: ssl.SSLContext | None = None,
    server_name: str | None = None,
) -> None:
    """Connect to `upstream`, send `first`, then copy bytes both ways until either side closes."""
    try:
        up_reader, up_writer = await asyncio.wait_for(
            asyncio.open_connection(*upstream, ssl=context, server_hostname=server_name),
            IO_TIMEOUT_S,
        )
    except (OSError, TimeoutError, ssl.SSLError):
        writer.close()
        return
    up_writer.write(first)
    await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


def original_destination(writer: asyncio.StreamWriter) -> tuple[str, int]:
    """Return the address a DNAT'ed connection was sent to."""
    raw = writer.get_extra_info("socket").getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
    port = struct.unpack("!H", raw[2:4])[0]
    return socket.inet_ntoa(raw[4:8]), port


def client_hello_sni(hello: bytes) -> str | None:
    """Return the server_name of a TLS ClientHello record, if it carries one."""
    try:
        at = 5 + 4 + 2 + 32  # record header, handshake header, version, random
        at += 1 + hello[at]  # session id
        at += 2 + int.from_bytes(hello[at : at + 2], "big")  # cipher suites
        at += 1 + hello[at]  # compression methods
        end = at + 2 + int.from_bytes(hello[at : at + 2], "big")
        at += 2
        while at + 4 <= end:
            kind = int.from_bytes(hello[at : at + 2], "big")
            size = int.from_bytes(hello[at + 2 : at + 4], "big")
            if kind == 0:
                name_size = int.from_bytes(hello[at + 7 : at + 9], "big")
                return hello[at + 9 : at + 9 + name_size].decode("ascii").lower()
            at += 4 + size
    except (IndexError, UnicodeDecodeError):
        return None
    return None


def sni_router(state: State) -> Callable[..., Any]:
    """Return the interception box's :443 handler: forge for the scenario's names, else pass."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            header = await asyncio.wait_for(reader.readexactly(5), IO_TIMEOUT_S)
            body = await asyncio.wait_for(
                reader.readexactly(int.from_bytes(header[3:5], "big")), IO_TIMEOUT_S
            )
        except (asyncio.IncompleteReadError, TimeoutError, OSError):
            writer.close()
            return
        hello = header + body
        name = client_hello_sni(hello) or ""
        site = world.site_for(name)
        forged = state.get().get("intercept", {}).get("tls_forge", [])
        upstream = original_destination(writer)
        if site is not None and site.key in forged:
            upstream = ("127.0.0.1", world.MITM_TERMINATOR_PORT)
        elif upstream[0] == world.INTERCEPTOR_ADDRESS:  # reached by a DNS lie, not by DNAT
            if site is None:
                writer.close()
                return
            upstream = (site.address, 443)
        await splice(reader, writer, upstream, hello)

    return handle


def terminator(pki: Path) -> tuple[Callable[..., Any], ssl.SSLContext]:
    """Return the forging TLS endpoint: a copied-name certificate, then relays to the real site."""
    forged = {s.key: tls_context(pki / f"mitm-{s.key}.pem") for s in world.HOSTED}
    default = next(iter(forged.values()))

    def choose(tls: ssl.SSLObject, server_name: str | None, _: ssl.SSLContext) -> None:
        site = world.site_for(server_name or "")
        if site is not None and site.key in forged:
            tls.context = forged[site.key]

    default.sni_callback = choose
    upstream_context = ssl.create_default_context(cafile=str(pki / "lab-ca.pem"))

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await read_head(reader)
        _, _, headers = head_fields(head)
        host = headers.get("host", "").split(":")[0]
        site = world.site_for(host)
        if site is None:
            writer.close()
            return
        await splice(reader, writer, (site.address, 443), head, upstream_context, host)

    return handle, default


def http_proxy(state: State) -> Callable[..., Any]:
    """Return the transparent HTTP proxy: the scenario's hosts get a block page or a redirect."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if (head := await read_request(reader, writer)) is None:
            return
        _, path, headers = head_fields(head)
        host = headers.get("host", "").split(":")[0].lower()
        block = state.get().get("intercept", {}).get("http_block", {})
        if _matches(host, block.get("hosts", [])):
            if block.get("mode") == "redirect":
                location = f"http://{world.BLOCKPAGE_NAME}/?url=http://{host}{path}"
                await send(writer, response(302, b"", (("Location", location),)))
            elif block.get("mode") == "short_ru":
                await send(writer, response(200, world.short_blockpage_ru()))
            else:
                await send(writer, response(200, world.blockpage()))
            return
        upstream = original_destination(writer)
        if upstream[0] == world.INTERCEPTOR_ADDRESS:  # reached by a DNS lie, not by DNAT
            site = world.site_for(host)
            if site is None:
                writer.close()
                return
            upstream = (site.address, 80)
        await splice(reader, writer, upstream, head)

    return handle


# DoH -------------------------------------------------------------------------------------------


def doh_handler(answer: Answer) -> Callable[..., Any]:
    """Answer DNS queries over HTTPS, several per connection as public DoH resolvers do (the
    connection stays open for the next query until the client closes it or IO_TIMEOUT_S)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await read_head(reader):
                data = await _doh_reply(reader, head, answer)
                if data is None:  # a name without reply: the query hangs, then the connection
                    return
                lines = (
                    "HTTP/1.1 200 OK\r\nContent-Type: application/dns-message\r\n"
                    f"Content-Length: {len(data)}\r\n\r\n"
                )
                writer.write(lines.encode() + data)
                await asyncio.wait_for(writer.drain(), IO_TIMEOUT_S)
        except ValueError:
            await send(writer, response(400, b"bad request"))
        except (OSError, TimeoutError, ssl.SSLError):
            pass
        finally:
            writer.close()

    return handle


async def _doh_reply(reader: asyncio.StreamReader, head: bytes, answer: Answer) -> bytes | None:
    """Return the wire reply to a DoH request (None: no reply); ValueError for a bad request."""
    method, path, headers = head_fields(head)
    try:
        if method == "POST":
            size = min(int(headers.get("content-length", "0")), 65535)
            wire = await asyncio.wait_for(reader.readexactly(size), IO_TIMEOUT_S)
        else:
            encoded = path.split("dns=", 1)[1].split("&")[0]
            wire = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        reply = await answer(dns.message.from_wire(wire))
    except Exception as exc:
        raise ValueError("bad request") from exc
    return None if reply is None else reply.to_wire()


# Roles -----------------------------------------------------------------------------------------


async def internet(run_dir: Path) -> None:
    state = State(run_dir / "scenario.json")
    pki = run_dir / "pki"
    answer = world_answer(state)
    await serve_dns(world.AUTHORITATIVE_ADDRESS, answer)
    await serve_dns(world.PUBLIC_RESOLVER, answer, tls_context(pki / "resolver.pem"))
    await listen(doh_handler(answer), world.DOH_ADDRESS, 443, tls_context(pki / "doh.pem"))
    for site in world.HOSTED:
        if site.domestic:
            continue
        handler = site_handler(state, site)
        await listen(handler, site.address, 80, None)
        await listen(handler, site.address, 443, tls_context(pki / f"site-{site.key}.pem"))
        for port in site.extra_ports:
            await listen(accept_and_wait, site.address, port, None)


async def isp(run_dir: Path) -> None:
    state = State(run_dir / "scenario.json")
    pki = run_dir / "pki"
    await serve_dns(world.ISP_RESOLVER, isp_answer(state))
    for site in world.HOSTED:
        if site.domestic:
            handler = site_handler(state, site)
            await listen(handler, site.address, 80, None)
            await listen(handler, site.address, 443, tls_context(pki / f"site-{site.key}.pem"))
    page_tls = tls_context(pki / "site-blockpage.pem")
    await listen(blockpage_handler, world.BLOCKPAGE_ADDRESS, 80, None)
    await listen(blockpage_handler, world.BLOCKPAGE_ADDRESS, 443, page_tls)
    portal_tls = tls_context(pki / "site-portal.pem")
    await listen(portal_handler, world.PORTAL_ADDRESS, 80, None)
    await listen(portal_handler, world.PORTAL_ADDRESS, 443, portal_tls)
    valid_tls = tls_context(pki / "site-portal-valid.pem")
    await listen(portal_handler, world.PORTAL_VALID_ADDRESS, 80, None)
    await listen(portal_handler, world.PORTAL_VALID_ADDRESS, 443, valid_tls)
    await listen(sni_router(state), world.INTERCEPTOR_ADDRESS, 443, None)
    await listen(http_proxy(state), world.INTERCEPTOR_ADDRESS, 80, None)
    handle, forged = terminator(pki)
    await listen(handle, "127.0.0.1", world.MITM_TERMINATOR_PORT, forged)


async def main(role: str, run_dir: Path) -> None:
    await {"internet": internet, "isp": isp}[role](run_dir)
    (run_dir / f"ready-{role}").write_text("ready\n")
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2])))
