"""CLI commands of the provenance package; gapfill/cli.py registers them:

app.command("verify")(commands.verify)
app.command("audit")(commands.audit)
keys_app.command("init")(commands.keys_init)     # keys_app = typer.Typer(name="keys")
keys_app.command("rotate")(commands.keys_rotate)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from gapfill.console import cli_actor, emit, emit_object, err, out
from gapfill.errors import UserError


def keys_init(
    force: Annotated[
        bool, typer.Option("--force", help="Replace existing keys (old clips need the old CA).")
    ] = False,
) -> None:
    """Create a self-signed site CA and a C2PA signing certificate under the keys directory.

    For a site without a PKI. A site with its own certificate sets signing_cert, signing_key and
    ca_cert in the configuration instead. Give ca.pem to auditors: it is the trust anchor.
    """
    from gapfill.config import load_settings
    from gapfill.provenance.keys import certificate_fingerprint, init_keys

    keys = init_keys(load_settings(), force=force)
    emit_object(
        {
            "ca_cert": str(keys.ca_cert),
            "signing_cert": str(keys.signing_cert),
            "signing_key": str(keys.signing_key),
            "signing_cert_sha256": certificate_fingerprint(keys.read_signing_cert()),
        },
        as_json=False,
    )


def keys_rotate(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Replace the signing key and certificate with new ones issued by the existing site CA.

    Clips signed before and after both stay Trusted with the same ca.pem, so auditors need
    nothing new. The replaced signer.pem and signer.key are kept as signer-<UTC time>.pem/.key.
    Needs ca.key in the keys directory. Recorded in the provenance chain when the catalog is
    reachable. Workers read the key for each clip, so the next clip is signed with the new one.
    """
    from sqlalchemy.engine import make_url

    from gapfill.catalog.db import open_catalog
    from gapfill.catalog.event_names import ROTATE_KEY_ACTION, SIGNING_CERT_SUBJECT
    from gapfill.config import load_settings
    from gapfill.provenance.chain import append_event
    from gapfill.provenance.keys import rotate_signing_key

    settings = load_settings()
    # Keys are often rotated on an admin machine that holds ca.key but has no catalog: the
    # rotation must not depend on it. Where there is one, the chain records it.
    catalog, unrecorded = None, None
    url = make_url(settings.effective_database_url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        unrecorded = f"no catalog at {url.database}"  # and opening it would create an empty one
    else:
        try:
            catalog = open_catalog(settings)
        except UserError as exc:
            unrecorded = str(exc)
    try:
        rotation = rotate_signing_key(settings)
    except BaseException:
        if catalog is not None:
            catalog.dispose()
        raise
    result: dict[str, object] = {
        "signing_cert": str(rotation.keys.signing_cert),
        "signing_key": str(rotation.keys.signing_key),
        "signing_cert_sha256": rotation.new_fingerprint,
        "previous_cert_sha256": rotation.old_fingerprint,
        "ca_cert_sha256": rotation.ca_fingerprint,
        "not_after": rotation.not_after,
        "kept": ", ".join(str(p) for p in rotation.kept),
        "recorded": catalog is not None,
    }
    if catalog is not None:
        with catalog, catalog.session() as session:
            append_event(
                session,
                ROTATE_KEY_ACTION,
                cli_actor(),
                SIGNING_CERT_SUBJECT,
                rotation.new_fingerprint,
                {
                    "previous_cert_sha256": rotation.old_fingerprint,
                    "ca_cert_sha256": rotation.ca_fingerprint,
                    "not_after": rotation.not_after.isoformat(),
                },
            )
    emit_object(result, as_json)
    if unrecorded is not None:
        err.print(
            f"warning: keys rotated, but not recorded in the provenance chain: {unrecorded}",
            highlight=False,
            markup=False,
        )


def verify(
    path: Annotated[Path | None, typer.Argument(help="One synthetic clip to check.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Check every synthetic clip.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Re-hash clips, originals and models, check C2PA manifests and sidecars, walk the
    provenance chain. Prints every mismatch; exits 1 when anything fails."""
    from gapfill.catalog.db import open_catalog
    from gapfill.config import load_settings
    from gapfill.provenance.verify import verify as run_verify

    if path is None and not all_:
        raise UserError("verify: give a clip PATH or --all")
    if path is not None and all_:
        raise UserError("verify: give either a clip PATH or --all, not both")
    settings = load_settings()
    with open_catalog(settings) as catalog:
        report = run_verify(catalog, settings, path=path, all_clips=all_)
    if json_output:
        emit_object(report.to_json(), as_json=True)
    else:
        for problem in report.problems:
            err.print(f"FAIL {problem.line()}", highlight=False, markup=False)
        summary = (
            f"{report.clips_checked} clips, {report.recordings_checked} originals, "
            f"{report.models_checked} models, {report.chain_events_checked} provenance events "
            "checked: "
        )
        verdict = "all verified" if report.ok else f"{len(report.problems)} problems"
        out.print(summary + verdict, highlight=False, markup=False)
    if not report.ok:
        raise typer.Exit(1)


def audit(
    camera: Annotated[str | None, typer.Option(help="Only this camera.")] = None,
    from_: Annotated[
        str | None, typer.Option("--from", help="Window start (ISO 8601 or an age like 2d).")
    ] = None,
    to: Annotated[str | None, typer.Option("--to", help="Window end (ISO 8601 or age).")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    csv_output: Annotated[bool, typer.Option("--csv", help="Print CSV for spreadsheets.")] = False,
) -> None:
    """List every synthetic frame range in the window: clip, model, inputs, parameters,
    reviewer and review state. Exits 1, after the listing, when a clip's inputs could not be
    read (its repair event gone and its sidecar missing or malformed)."""
    from gapfill.catalog.db import open_catalog
    from gapfill.config import load_settings
    from gapfill.provenance.audit import audit_rows, write_audit_csv
    from gapfill.times import parse_time

    if json_output and csv_output:
        raise UserError("audit: give --json or --csv, not both")
    start = parse_time(from_, "--from") if from_ is not None else None
    end = parse_time(to, "--to") if to is not None else None
    if start is not None and end is not None and end <= start:
        raise UserError(f"--to: {to!r} is not after --from {from_!r}")
    problems: list[str] = []
    with open_catalog(load_settings()) as catalog, catalog.session() as session:
        rows = audit_rows(session, camera, start, end, problems)
    if csv_output:
        write_audit_csv(rows, sys.stdout)
    else:
        if not json_output:
            for row in rows:
                row["inputs_count"] = len(row["inputs"])
        emit(
            rows,
            [
                "camera",
                "start_time",
                "end_time",
                "frame_start",
                "frame_end",
                "clip_id",
                "model_name",
                "review_state",
                "reviewer",
                "inputs_count",
            ],
            json_output,
            title="synthetic frame ranges",
        )
    # After the listing, which is still the answer for every other clip.
    for problem in problems:
        err.print(f"error: {problem}", highlight=False, markup=False)
    if problems:
        raise typer.Exit(1)
