"""/healthz and /metrics listen where they are told: settings.metrics_host (GAPFILL_METRICS_HOST)
or --metrics-host on `gapfill daemon` and `gapfill worker`, so that in a container Prometheus and
the orchestrator's probes can reach them. Default: 127.0.0.1, as before."""

from __future__ import annotations

import json
import socket
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from test_jobs import cli, free_port

from gapfill.catalog.db import Catalog
from gapfill.config import Settings
from gapfill.jobs import metrics
from gapfill.jobs.daemon import Daemon
from gapfill.jobs.metrics import DaemonMetrics, serve


def test_the_default_stays_on_loopback() -> None:
    assert Settings().metrics_host == "127.0.0.1"


@pytest.fixture
def site_env(
    catalog: Catalog,
    tmp_path: Path,
    tiny_checkpoint: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Path:
    monkeypatch.setenv("GAPFILL_DATABASE_URL", catalog.url)
    monkeypatch.setenv("GAPFILL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GAPFILL_RECORDINGS_DIRS", json.dumps([str(tmp_path / "rec")]))
    monkeypatch.setenv("GAPFILL_METRICS_PORT", str(free_port()))
    # A worker checks its keys and model before it listens (gapfill/preflight.py).
    monkeypatch.setenv("GAPFILL_MODEL_PATH", str(tiny_checkpoint))
    cli(capsys, "keys", "init")
    return tmp_path


@pytest.mark.parametrize(
    ("env", "args", "expected"),
    [
        (None, [], "127.0.0.1"),
        ("0.0.0.0", [], "0.0.0.0"),
        ("0.0.0.0", ["--metrics-host", "127.0.0.1"], "127.0.0.1"),
    ],
)
def test_worker_serves_on_the_configured_host(
    site_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: str | None,
    args: list[str],
    expected: str,
) -> None:
    if env is not None:
        monkeypatch.setenv("GAPFILL_METRICS_HOST", env)
    hosts: list[str] = []

    def refuse(_metrics: Any, _port: int, _health: Any, host: str = "127.0.0.1") -> Any:
        hosts.append(host)
        raise OSError(98, "Address already in use")  # stops the worker before it runs

    monkeypatch.setattr(metrics, "serve", refuse)
    error = cli(capsys, "worker", "--metrics", *args, code=1)
    assert hosts == [expected]
    assert f"metrics {expected}:" in error and "cannot listen" in error


@pytest.mark.parametrize(
    ("env", "args", "expected"),
    [(None, [], "127.0.0.1"), ("0.0.0.0", [], "0.0.0.0"), (None, ["--metrics-host", "::"], "::")],
)
def test_daemon_passes_the_host_on(
    site_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: str | None,
    args: list[str],
    expected: str,
) -> None:
    if env is not None:
        monkeypatch.setenv("GAPFILL_METRICS_HOST", env)
    hosts: list[str] = []

    def run(self: Daemon) -> int:
        hosts.append(self.options.metrics_host)
        return 0

    monkeypatch.setattr(Daemon, "run", run)
    cli(capsys, "daemon", "--workers", "0", *args)
    assert hosts == [expected]


def test_all_interfaces_are_reachable_from_another_address(catalog: Catalog) -> None:
    """Bound to 0.0.0.0, the endpoints answer on a non-loopback address of this host (what a
    Prometheus in another container sees); bound to 127.0.0.1 they do not."""
    address = _non_loopback_address()
    if address is None:
        pytest.skip("this host has no non-loopback IPv4 address")
    port = free_port()
    server = serve(DaemonMetrics(catalog), port, lambda: (True, {}), host="0.0.0.0")
    try:
        with urllib.request.urlopen(f"http://{address}:{port}/healthz", timeout=5) as response:
            assert response.status == 200
    finally:
        server.shutdown()
        server.server_close()
    server = serve(DaemonMetrics(catalog), port, lambda: (True, {}))
    try:
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://{address}:{port}/healthz", timeout=5)
    finally:
        server.shutdown()
        server.server_close()


def _non_loopback_address() -> str | None:
    # connect() on UDP sends nothing; it only picks the interface a packet would leave by.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed anywhere
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_an_ipv6_host_gets_an_ipv6_socket(catalog: Catalog) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this host")
    port = free_port()
    try:
        server = serve(DaemonMetrics(catalog), port, lambda: (True, {}), host="::")
    except OSError as exc:  # IPv6 disabled in the kernel or the container
        pytest.skip(f"cannot bind ::: {exc}")
    try:
        with urllib.request.urlopen(f"http://[::1]:{port}/healthz", timeout=5) as response:
            assert response.status == 200
    finally:
        server.shutdown()
        server.server_close()
