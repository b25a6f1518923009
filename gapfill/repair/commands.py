"""`gapfill repair`: turn open defects into flagged, signed, catalogued reconstructions."""

from __future__ import annotations

from typing import Annotated

import typer

from gapfill import preflight
from gapfill.catalog.db import Catalog, open_catalog
from gapfill.catalog.models import Defect
from gapfill.catalog.queries.cameras import option_camera_id
from gapfill.catalog.queries.defects import DefectFilter, defect_ids
from gapfill.checkpoint_registry import configured_checkpoint
from gapfill.config import Settings, load_settings
from gapfill.console import emit, progress
from gapfill.errors import UserError
from gapfill.provenance.c2pa_sign import C2paSigner
from gapfill.repair.run import RepairResult, finish_interrupted, repair_defect
from gapfill.times import parse_time


def select_defects(
    catalog: Catalog,
    camera: str | None = None,
    defect_id: int | None = None,
    since: str | None = None,
) -> list[int]:
    """Ids of the open defects to repair, oldest first; --defect also takes a queued one."""
    with catalog.session() as session:
        if defect_id is not None:
            defect = session.get(Defect, defect_id)
            if defect is None:
                raise UserError(f"--defect: no defect {defect_id} in the catalog")
            if defect.state not in ("open", "queued"):
                raise UserError(f"--defect: defect {defect_id} is {defect.state}, not open")
            return [defect_id]
        where = DefectFilter(
            camera_id=option_camera_id(session, camera),
            state="open",
            since=parse_time(since, "--since") if since is not None else None,
        )
        return defect_ids(session, where)


def repair_all(
    catalog: Catalog, settings: Settings, defect_ids: list[int], dry_run: bool, show: bool
) -> list[RepairResult]:
    """Repair each defect in turn. A defect that fails for a reason the user can act on (an
    original gone or changed, a full disk) is reported as `failed` with the reason and stays
    open; the others go on."""
    configured_checkpoint(settings)  # a missing or broken model is refused before any work
    if not dry_run:
        C2paSigner.from_settings(settings)  # so are signing keys that cannot be read
        finish_interrupted(catalog)
    results = []
    with progress("repair", total=len(defect_ids), enabled=show) as bar:
        for defect_id in defect_ids:
            try:
                results.append(repair_defect(catalog, settings, defect_id, dry_run=dry_run))
            except UserError as exc:
                results.append(RepairResult(defect_id, "failed", reason=str(exc)))
            bar.advance()
    return results


def repair(
    camera: Annotated[str | None, typer.Option(help="Only this camera's defects.")] = None,
    defect: Annotated[int | None, typer.Option(help="Only this defect (by id).")] = None,
    since: Annotated[
        str | None, typer.Option(help="Only defects starting at or after (ISO 8601 or 6h, 2d).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Plan only: say what would be done, write nothing.")
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Reconstruct open defects with MALT and write flagged clips beside the originals.

    Each clip holds real context before and after and the synthetic frames, every synthetic
    frame marked SYNTHETIC, with a timed-text track, metadata, a signed C2PA manifest and a
    sidecar .provenance.json; the catalog records the exact synthetic frames and a provenance
    event. A defect without enough real footage around it, or longer than max_span_seconds,
    becomes unrepairable with the reason. Originals are never modified.
    """
    settings = load_settings()
    # A dry run writes nothing: it needs no keys and no output folder.
    preflight.require(settings, ("catalog", "model") if dry_run else preflight.REPAIR_CHECKS)
    with open_catalog(settings) as catalog:
        ids = select_defects(catalog, camera, defect, since)
        results = repair_all(catalog, settings, ids, dry_run, show=not json_output)
    emit(
        [r.as_dict() for r in results],
        ["defect_id", "state", "synthetic_frames", "clip_path", "reason"],
        json_output,
        title="dry run: nothing written" if dry_run else "repairs",
    )
    failed = [r for r in results if r.state == "failed"]
    if failed:
        raise UserError(f"{len(failed)} of {len(results)} repairs failed: {failed[0].reason}")
