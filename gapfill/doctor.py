"""`gapfill doctor`: the checks `daemon`, `worker` and `repair` run first, as a table."""

from __future__ import annotations

from typing import Annotated

import typer

from gapfill.config import load_settings
from gapfill.console import emit
from gapfill.errors import UserError
from gapfill.preflight import run_checks


def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Check that this installation can repair: the catalog at this version's schema, the signing
    key and certificate, the model checkpoint, the output folder (writable, min_free_disk_mb
    free). Prints one row per check; exits 1 if any failed."""
    checks = run_checks(load_settings())
    emit(
        [c.as_dict() for c in checks],
        ["name", "status", "detail", "fix"],
        as_json,
        title="gapfill doctor",
    )
    failed = [c.name for c in checks if c.status == "failed"]
    if failed:
        raise UserError(f"{len(failed)} of {len(checks)} checks failed: {', '.join(failed)}")
