"""Serving a service's Prometheus registry over HTTP on localhost (prometheus-client).

Every service that exports metrics serves them the same way: ``/metrics`` on
``127.0.0.1:<port>`` from a daemon thread, port 0 meaning not at all, and a
port already taken logged rather than fatal (a service never stops cleaning or
monitoring for want of its metrics). prometheus-client is imported here only,
so services without metrics do not need it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


def serve_registry(registry, port: int, address: str = "127.0.0.1") -> Callable[[], None]:
    """Serve ``registry`` on ``address:port``; the function that stops it. Raises OSError if the port is taken."""
    from prometheus_client import start_http_server

    server, thread = start_http_server(port, addr=address, registry=registry)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop


def serve_or_log(registry, port: int, service: str) -> Callable[[], None]:
    """:func:`serve_registry` on 127.0.0.1, or nothing for port 0 or a taken port (logged, naming ``service``)."""
    if not port:
        return lambda: None
    try:
        return serve_registry(registry, port)
    except OSError as exc:
        log.error("%s: cannot serve metrics on 127.0.0.1:%d (%s); going on without them", service, port, exc)
        return lambda: None
