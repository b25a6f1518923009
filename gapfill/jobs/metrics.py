"""Health and Prometheus metrics of the daemon, served on <metrics_host>:<metrics_port>.

metrics_host is 127.0.0.1 by default; 0.0.0.0 in a container or pod, where Prometheus and the
liveness probe come from outside. Neither endpoint needs a token: they show counts, no footage.

Two kinds of figures:
- read from the catalog at scrape time (queue depth by state, jobs done and failed, seconds of
  footage synthesized): every daemon and worker sharing the database reports the same numbers,
  and nothing is lost when a process restarts;
- kept by this process (repair duration histogram, scan lag, last nightly success, verify
  failures): the daemon's workers send their repair timings to it over a pipe (see daemon.py).
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from gapfill.catalog.db import Catalog
from gapfill.catalog.queries.clips import synthetic_seconds

log = logging.getLogger("gapfill.jobs.metrics")

# Repairs of a tiny span take a second; a long span on CPU takes many minutes.
REPAIR_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1200, 3600)


class CatalogCollector(Collector):
    """Queue depth and totals, counted in the database when Prometheus scrapes."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def collect(self) -> Iterator[Any]:
        from gapfill.jobs.queue import counts_by_state

        try:
            with self.catalog.session() as session:
                counts = counts_by_state(session)
                synthesized = synthetic_seconds(session)
        except Exception:  # a scrape must answer even when the database is away
            log.exception("metrics: catalog unreachable")
            up = GaugeMetricFamily("gapfill_catalog_up", "1 when the catalog answered the scrape.")
            up.add_metric([], 0)
            yield up
            return
        up = GaugeMetricFamily("gapfill_catalog_up", "1 when the catalog answered the scrape.")
        up.add_metric([], 1)
        yield up
        depth = GaugeMetricFamily(
            "gapfill_jobs", "Repair jobs in the catalog, by state.", labels=["state"]
        )
        for state, count in sorted(counts.items()):
            depth.add_metric([state], count)
        yield depth
        done = CounterMetricFamily("gapfill_jobs_done", "Repair jobs finished successfully.")
        done.add_metric([], counts.get("done", 0))
        yield done
        failed = CounterMetricFamily(
            "gapfill_jobs_failed", "Repair jobs given up on (failed or dead after retries)."
        )
        failed.add_metric([], counts.get("failed", 0) + counts.get("dead", 0))
        yield failed
        seconds = CounterMetricFamily(
            "gapfill_synthesized_seconds", "Seconds of footage synthesized, over all clips."
        )
        seconds.add_metric([], round(float(synthesized), 3))  # julianday arithmetic is inexact
        yield seconds


class MqttCollector(Collector):
    """The MQTT publisher's counts (gapfill/mqtt/publisher.py), read when Prometheus scrapes."""

    def __init__(self, publisher: Any) -> None:
        self.publisher = publisher

    def collect(self) -> Iterator[Any]:
        dropped = CounterMetricFamily(
            "gapfill_mqtt_dropped_events",
            "Events dropped because the MQTT queue was full (broker away too long).",
        )
        dropped.add_metric([], self.publisher.dropped)
        yield dropped
        sent = CounterMetricFamily(
            "gapfill_mqtt_published_events", "Events handed to the MQTT client (QoS 1)."
        )
        sent.add_metric([], self.publisher.published)
        yield sent
        up = GaugeMetricFamily("gapfill_mqtt_connected", "1 while connected to the broker.")
        up.add_metric([], 1 if self.publisher.connected else 0)
        yield up


class DaemonMetrics:
    """The metrics registry of one daemon (or one stand-alone worker)."""

    def __init__(self, catalog: Catalog | None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        if catalog is not None:
            self.registry.register(CatalogCollector(catalog))
        self.repair_seconds = Histogram(
            "gapfill_repair_seconds",
            "Wall time of one repair attempt.",
            ["outcome"],
            buckets=REPAIR_BUCKETS,
            registry=self.registry,
        )
        self.repairs = Counter(
            "gapfill_repairs",
            "Repair attempts run by this daemon's workers, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.scan_lag = Gauge(
            "gapfill_scan_lag_seconds",
            "Newest segment on disk (mtime) minus newest scanned recording (mtime).",
            registry=self.registry,
        )
        self.last_nightly_success = Gauge(
            "gapfill_last_nightly_success_timestamp_seconds",
            "Unix time the last repair window finished with its queue drained.",
            registry=self.registry,
        )
        self.verify_failures = Counter(
            "gapfill_verify_failures",
            "Scheduled verifications that found problems or could not run.",
            registry=self.registry,
        )
        self.verify_problems = Gauge(
            "gapfill_verify_problems",
            "Problems found by the last scheduled verification.",
            registry=self.registry,
        )
        self.last_verify = Gauge(
            "gapfill_last_verify_timestamp_seconds",
            "Unix time the last scheduled verification finished.",
            registry=self.registry,
        )
        self.expired_clips = Counter(
            "gapfill_expired_clips",
            "Synthetic clip files deleted by retention.",
            registry=self.registry,
        )

    def observe_repair(self, outcome: str, seconds: float) -> None:
        self.repair_seconds.labels(outcome).observe(seconds)
        self.repairs.labels(outcome).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsServer(ThreadingHTTPServer):
    daemon_threads = True  # a scrape in flight does not hold up the daemon's exit

    def shutdown(self) -> None:
        """Stop serving and close the listening socket (the base class leaves it open: the port
        would stay bound until the process exits)."""
        super().shutdown()
        self.server_close()


class _IPv6Server(MetricsServer):
    address_family = socket.AF_INET6


def serve(
    metrics: DaemonMetrics,
    port: int,
    health: Callable[[], tuple[bool, dict[str, Any]]],
    host: str = "127.0.0.1",
) -> MetricsServer:
    """Serve /metrics and /healthz in a background thread; returns the server (shutdown() it)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                body, status, kind = metrics.render(), 200, CONTENT_TYPE_LATEST
            elif path == "/healthz":
                ok, facts = health()
                body = json.dumps({"status": "ok" if ok else "unhealthy", **facts}).encode()
                status, kind = (200 if ok else 503), "application/json"
            else:
                body, status, kind = b"not found\n", 404, "text/plain"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # scrapes are not news
            pass

    # An IPv6 address such as "::" (every interface, IPv4 too on Linux) needs an IPv6 socket.
    server_class = _IPv6Server if ":" in host else MetricsServer
    server = server_class((host, port), Handler)
    thread = threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True)
    thread.start()
    return server
