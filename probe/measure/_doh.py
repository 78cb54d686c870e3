"""DNS over HTTPS (RFC 8484): one POST of application/dns-message with the run's httpx client.

Apart from dns.py so that a check's first UDP query does not wait for httpx to be imported
(issue 19): dns.py imports this module when a DoH resolver is first asked.
"""

from __future__ import annotations

import asyncio

import dns.message
import httpx

from probe.measure import _dns_udp
from probe.measure._body import read_capped
from probe.measure._transfer import open_response
from probe.measure.failures import NETWORK_ERRORS, failure_string
from probe.measure.http import user_agent
from probe.models.failures import Failure

_MAX_DOH_BYTES = 65535  # the largest DNS message


async def ask(
    query: dns.message.Message, url: str, timeout_s: float, client: httpx.AsyncClient
) -> tuple[dns.message.Message | None, str | None]:
    """Return (reply, failure) of a DoH POST (RFC 8484) sent with our httpx client."""
    query.id = 0  # RFC 8484 §4.1: 0 makes the message cacheable
    request = client.build_request(
        "POST",
        url,
        content=query.to_wire(),
        headers={
            "Content-Type": "application/dns-message",
            "Accept": "application/dns-message",
            "User-Agent": user_agent(),
        },
        timeout=timeout_s,
    )
    try:
        async with asyncio.timeout(timeout_s), open_response(client, request) as response:
            if response.status_code != 200:
                return None, Failure.HTTP_REQUEST_FAILED
            body = await read_capped(response, _MAX_DOH_BYTES)
    except NETWORK_ERRORS as exc:
        return None, failure_string(exc)
    reply = None if body.is_truncated else _dns_udp.parse_reply(bytes(body.recorded))
    if reply is None or not query.is_response(reply):
        return None, Failure.DNS_SERVER_MISBEHAVING
    return reply, None
