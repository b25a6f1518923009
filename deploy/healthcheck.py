#!/usr/bin/env python3
"""Container health probe for gapfill processes, installed in the images as `gapfill-healthcheck`.

The daemon and `gapfill worker --metrics` serve /healthz on <metrics_host>:<metrics_port> (all
interfaces in the images, so Kubernetes httpGet probes and Prometheus reach them too); the API
serves its own /healthz on api_port. Docker's HEALTHCHECK runs a program inside the container,
and the slim images carry no curl or wget, hence this one. A Kubernetes httpGet probe counts a
503 as a failure, so the liveness probes run it with --live. Standard library only, so it runs
with any Python.

    gapfill-healthcheck                      daemon/worker: /healthz must answer 200
    gapfill-healthcheck --live               liveness: any HTTP answer will do (a 503 because the
                                             database is down must not restart the process)
    gapfill-healthcheck --url http://127.0.0.1:8080/healthz      the API

Exit status 0 healthy, 1 not.
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.error
import urllib.request


def main(argv: list[str] | None = None) -> int:
    port = os.environ.get("GAPFILL_METRICS_PORT", "9108")
    parser = argparse.ArgumentParser(prog="gapfill-healthcheck", description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=f"http://{_metrics_host()}:{port}/healthz")
    parser.add_argument(
        "--live", action="store_true", help="Healthy as long as the server answers at all."
    )
    parser.add_argument("--timeout", type=float, default=5.0)
    args = parser.parse_args(argv)
    try:
        with urllib.request.urlopen(args.url, timeout=args.timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:  # 4xx/5xx: the process is alive but says it is unwell
        status = exc.code
    except (OSError, ValueError) as exc:  # refused, timed out, bad URL: nothing answering
        print(f"unhealthy: {args.url}: {exc}", file=sys.stderr)
        return 1
    if args.live or 200 <= status < 300:
        return 0
    print(f"unhealthy: {args.url}: HTTP {status}", file=sys.stderr)
    return 1


def _metrics_host() -> str:
    """Where the metrics server of this container answers: its metrics_host, or loopback when
    that is every interface (0.0.0.0, ::) or unset."""
    host = os.environ.get("GAPFILL_METRICS_HOST", "").strip()
    if host in ("", "0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


if __name__ == "__main__":
    sys.exit(main())
