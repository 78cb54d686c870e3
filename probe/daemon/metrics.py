"""The optional Prometheus endpoint (`[daemon] metrics_listen`), served from its own thread."""

from __future__ import annotations

import threading
import time
from typing import Any

from probe.models.status import RunStatus


class Metrics:
    """Counters and gauges the daemon updates; `close()` stops the HTTP server."""

    def __init__(self, listen: str) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
        from prometheus_client.process_collector import ProcessCollector

        class _ProcessCollector(ProcessCollector):
            """Boot time from the clock, not /proc/stat, which systemd's ProcSubset=pid hides
            (prometheus_client then reports no process metrics at all)."""

            def _boot_time(self) -> float:
                return time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)

        host, _, port = listen.rpartition(":")
        registry = CollectorRegistry()
        _ProcessCollector(registry=registry)  # RSS and CPU, for the "costs little" promise
        self.measurements = Counter(
            "probe_measurements",
            "Targets measured and stored, by job, platform, verdict and blocking method.",
            ["job", "platform", "verdict", "blocking"],
            registry=registry,
        )
        self.runs = Counter(
            "probe_runs", "Job runs by how they ended.", ["job", "status"], registry=registry
        )
        self.store_errors = Counter(
            "probe_store_errors", "Results that could not be written.", ["kind"], registry=registry
        )
        self.backlog = Gauge(
            "probe_outbox_backlog", "Stored results not yet uploaded or exported.",
            registry=registry,
        )  # fmt: skip
        self.uploads = Counter(
            "probe_uploads", "Upload passes by outcome (ok, failed, interrupted, crashed).",
            ["outcome"], registry=registry,
        )  # fmt: skip
        self.uploaded = Counter(
            "probe_uploaded_measurements", "Measurements a collector acknowledged.",
            registry=registry,
        )  # fmt: skip
        self.outbox_bundles = Gauge(
            "probe_outbox_bundles", "Sealed bundles waiting for a collector.", registry=registry
        )
        self.store_bytes = Gauge(
            "probe_store_bytes", "Size of the store's files.", registry=registry
        )
        self.last_success = Gauge(
            "probe_last_success_timestamp_seconds",
            "When each job last finished a run successfully (Unix time).",
            ["job"],
            registry=registry,
        )
        self.disk_paused = Gauge(
            "probe_disk_paused", "1 while measuring is paused for lack of disk space.",
            registry=registry,
        )  # fmt: skip
        self._server: Any
        self._thread: threading.Thread
        self._server, self._thread = start_http_server(
            int(port), addr=host.strip("[]"), registry=registry
        )

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    def observe_result(self, job: str, platform: str, verdict: str, blocking: str) -> None:
        self.measurements.labels(
            job=job, platform=platform, verdict=verdict, blocking=blocking
        ).inc()

    def observe_run(self, job: str, status: RunStatus, finished_at: float) -> None:
        self.runs.labels(job=job, status=status.value).inc()
        if status is RunStatus.OK:
            self.last_success.labels(job=job).set(finished_at)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
