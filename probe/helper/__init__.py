"""`probe helper`: our control vantage point, an OONI web-connectivity test helper (ts-017).

It owns the server side of the test-helper protocol: it measures a ControlRequest from where it
runs, reusing `probe.measure`, and answers a ControlResponse with our `x_` extensions. It must
never dial its own host or private networks, never serve without bounds (body size, endpoints,
time, requests in flight), and never judge what it measured. Starlette and uvicorn are imported
only here, and the CLI imports this package only for `probe helper`.

Modules:
    app      create_app(): the Starlette application (routes, body cap, validation, shedding)
    clients  client_address() (trusted proxies' forwarding headers) and the per-client cap
    context  HelperContext shared by every measurement, and the DNS lookup step
    fetch    the HTTP GET of the URL, following redirects through the destination policy
    guard    DestinationPolicy (which addresses may be dialled) and LoadShedder (who is served)
    interfaces  HostAddresses: the host's own addresses (rtnetlink), refused like loopback
    legacy   OONI's legacy test-helper failure names
    measure  measure(): one ControlRequest → ControlResponse
    server   serve(): uvicorn on [helper] listen, HTTP or HTTPS
    target   the requested URL, parsed and checked
"""

from probe.helper.app import create_app
from probe.helper.guard import DestinationPolicy, LoadShedder
from probe.helper.server import serve

__all__ = ["DestinationPolicy", "LoadShedder", "create_app", "serve"]
