"""A service's Prometheus metrics: their registry, their names, and serving them on localhost.

Every service that exports metrics keeps them in a registry of its own, names
them ``deepclean_<service>_<name>`` and serves them the same way: ``/metrics``
on ``127.0.0.1:<port>`` from a daemon thread, port 0 meaning not at all, and a
port already taken logged rather than fatal (a service never stops cleaning,
training or monitoring for want of its metrics). A service subclasses
:class:`ServiceMetrics`::

    class TrainerMetrics(ServiceMetrics):
        service = "trainer"

        def __init__(self) -> None:
            super().__init__()
            self.cycles = self.counter("cycles_started", "Training cycles started")

    stop = serve_metrics(TrainerMetrics(), port)  # ... stop() at the end

prometheus-client is imported here only, when a service creates its metrics,
so services without metrics do not need it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from jsonargparse.typing import restricted_number_type

log = logging.getLogger(__name__)

LOCALHOST = "127.0.0.1"
Port = restricted_number_type("Port", int, [(">=", 0), ("<=", 65535)])
"""The type of a service's ``metrics_port`` (0: no metrics served)."""


class ServiceMetrics:
    """The metrics of one service in a registry of their own, each named ``deepclean_<service>_<name>``.

    Subclasses set :attr:`service` and declare their metrics in ``__init__``
    with :meth:`counter`, :meth:`gauge` and :meth:`histogram`.
    """

    service: str = ""
    """The service's name in every metric's name (``cleaner``, ``monitor``, ``trainer``)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry

        self.registry = CollectorRegistry()

    def _name(self, name: str) -> str:
        return f"deepclean_{self.service}_{name}"

    def counter(self, name: str, documentation: str, labels: Sequence[str] = ()):
        """A counter registered here (exposed with the suffix ``_total``)."""
        from prometheus_client import Counter

        return Counter(self._name(name), documentation, list(labels), registry=self.registry)

    def gauge(self, name: str, documentation: str, labels: Sequence[str] = ()):
        """A gauge registered here."""
        from prometheus_client import Gauge

        return Gauge(self._name(name), documentation, list(labels), registry=self.registry)

    def histogram(self, name: str, documentation: str, buckets: Sequence[float], labels: Sequence[str] = ()):
        """A histogram with ``buckets`` registered here."""
        from prometheus_client import Histogram

        return Histogram(self._name(name), documentation, list(labels), buckets=buckets, registry=self.registry)

    def serve(self, port: int, address: str = LOCALHOST) -> Callable[[], None]:
        """Serve ``/metrics`` on ``address:port`` from a daemon thread; the function that stops it.

        Raises OSError if the port is taken.
        """
        return serve_registry(self.registry, port, address)

    def write_textfile(self, path: Path) -> None:
        """Write the metrics in the text format (atomically) to ``path`` (a node-exporter textfile)."""
        from prometheus_client import write_to_textfile

        path.parent.mkdir(parents=True, exist_ok=True)
        write_to_textfile(str(path), self.registry)


def serve_registry(registry, port: int, address: str = LOCALHOST) -> Callable[[], None]:
    """Serve ``registry`` on ``address:port``; the function that stops it. Raises OSError if the port is taken."""
    from prometheus_client import start_http_server

    server, thread = start_http_server(port, addr=address, registry=registry)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop


def serve_metrics(metrics: ServiceMetrics, port: int) -> Callable[[], None]:
    """Serve ``metrics`` on 127.0.0.1:``port``; the function that stops serving.

    Port 0 serves nothing; a port already taken is logged (naming the service) and serves nothing.
    """
    if not port:
        return lambda: None
    try:
        return metrics.serve(port)
    except OSError as exc:
        log.error(
            "%s: cannot serve metrics on %s:%d (%s); going on without them", metrics.service, LOCALHOST, port, exc
        )
        return lambda: None
