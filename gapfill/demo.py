"""`gapfill demo`: the whole path on an embedded SQLite catalog, in one folder.

Synthesizes a damaged camera recording (with its ground truth), creates the catalog and the site
keys, ingests, scans, repairs every defect found, verifies every clip and the provenance chain,
and prints where the flagged clips, their sidecars and the catalog are, with the commands an
auditor would run next. Everything lives under DIR; nothing else on the machine is touched.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer

from gapfill.catalog.db import open_catalog, upgrade
from gapfill.config import load_settings
from gapfill.console import emit, err, out, progress
from gapfill.errors import UserError
from gapfill.provenance.sidecar import sidecar_path

# Marks a folder as the demo's own, so a second run may clear it and no other folder is ever
# emptied by mistake.
MARKER = ".gapfill-demo"


def prepare_folder(folder: Path) -> None:
    if folder.exists() and any(folder.iterdir()):
        if not (folder / MARKER).is_file():
            raise UserError(f"{folder}: not empty and not a gapfill demo folder; choose another")
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text("made by `gapfill demo`; safe to delete\n", encoding="utf-8")


def demo(
    folder: Annotated[
        Path, typer.Option("--dir", help="Folder for everything the demo writes.")
    ] = Path("demo-output"),
    cameras: Annotated[int, typer.Option(help="Simulated cameras.", min=1)] = 1,
    minutes: Annotated[float, typer.Option(help="Minutes of footage per camera.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Seed of the simulated footage and faults.")] = 7,
) -> None:
    """Run the whole path on a simulated damaged recording and print where the results are.

    synth -> init -> keys init -> ingest -> scan -> repair -> verify -> audit -> report, on a
    SQLite catalog under DIR/data. A second run replaces the previous demo folder.
    """
    from gapfill.catalog.queries.report import Window
    from gapfill.detect.scan import scan
    from gapfill.ingest import ingest
    from gapfill.provenance.audit import audit_rows
    from gapfill.provenance.keys import init_keys
    from gapfill.provenance.verify import verify
    from gapfill.repair.commands import repair_all, select_defects
    from gapfill.report.build import HTML_NAME, gather, write_report
    from gapfill.synth.writer import GROUND_TRUTH_NAME, synthesize

    folder = folder.expanduser().absolute()
    prepare_folder(folder)
    settings = load_settings(data_dir=folder / "data", output_dir=folder / "synthetic")
    recordings = folder / "recordings"

    err.print(f"1/6 simulating {cameras} camera(s) x {minutes:g} min with faults", highlight=False)
    with progress("synth", total=None) as bar:
        truth = synthesize(
            recordings, cameras=cameras, minutes=minutes, seed=seed,
            progress=lambda done, total: bar.update(completed=done, total=total),
        )  # fmt: skip
    err.print("2/6 catalog and site signing keys", highlight=False)
    upgrade(settings.effective_database_url)
    init_keys(settings)
    with open_catalog(settings) as catalog:
        err.print("3/6 ingest", highlight=False)
        ingested = ingest(catalog, recordings)
        err.print("4/6 scan", highlight=False)
        scanned = scan(catalog, settings, progress=True)
        err.print("5/6 repair", highlight=False)
        results = repair_all(catalog, settings, select_defects(catalog), False, show=True)
        err.print("6/6 verify, audit and the pilot report", highlight=False)
        report = verify(catalog, settings)
        with catalog.session() as session:
            audit = audit_rows(session, None, None, None)
        figures = gather(catalog, settings, Window())
        pilot_report = write_report(figures, folder / "report") / HTML_NAME
    sheets = [_contact_sheet(r.clip_path) for r in results if r.clip_path is not None]

    emit(
        [r.as_dict() for r in results],
        ["defect_id", "state", "synthetic_frames", "clip_path", "reason"],
        as_json=False,
        title="repairs",
    )
    emit(
        audit,
        ["camera", "start_time", "end_time", "frame_start", "frame_end", "clip_id", "model_name"],
        as_json=False,
        title="audit: every synthetic frame range",
    )
    repaired = [r for r in results if r.clip_path is not None]
    env = f"GAPFILL_DATA_DIR={settings.data_dir} GAPFILL_OUTPUT_DIR={settings.effective_output_dir}"
    lines = [
        f"recordings (originals, untouched): {recordings}",
        f"ground truth of the injected faults: {recordings / GROUND_TRUTH_NAME}"
        f" ({len(truth.faults)} faults)",
        f"catalog: {settings.effective_database_url}",
        f"ingested {len(ingested.added)} segments; scan found "
        f"{scanned.defects_written} defects; repaired {len(repaired)}",
        f"flagged clips: {settings.effective_output_dir}",
        *(
            f"  {r.clip_path}\n    sidecar {sidecar_path(r.clip_path)}\n    contact sheet {sheet}"
            f"\n    synthetic frames: {_made_by(r.clip_path)}"
            for r, sheet in zip(repaired, sheets, strict=True)
        ),
        f"site CA for auditors: {settings.effective_keys_dir / 'ca.pem'}",
        "verify: " + ("all verified" if report.ok else f"{len(report.problems)} problems"),
        f"pilot report (figures per camera and day): {pilot_report}",
        "next:",
        f"  {env} gapfill audit --camera <camera> --from 2026-01-01 --to 2027-01-01",
        f"  {env} gapfill verify --all",
    ]
    for line in lines:
        out.print(line, highlight=False, markup=False, soft_wrap=True)
    if not report.ok or any(r.state == "failed" for r in results):
        for problem in report.problems:
            err.print(f"verify: {problem.line()}", highlight=False, markup=False)
        for failed in (r for r in results if r.state == "failed"):
            err.print(f"repair: defect {failed.defect_id}: {failed.reason}", highlight=False)
        raise typer.Exit(1)


def _made_by(clip: Path) -> str:
    """Whether a clip's synthetic frames carry MALT's learned change, from its sidecar."""
    from gapfill.fill.fill_gap import describe_model_change
    from gapfill.provenance.sidecar import read_sidecar

    return describe_model_change(read_sidecar(clip)["parameters"].get("model_change"))


def _contact_sheet(clip: Path) -> Path:
    """Real frames before, synthetic frames (outlined), real frames after, in one PNG."""
    from gapfill.provenance.facts import ClipProvenance
    from gapfill.provenance.sidecar import read_sidecar
    from gapfill.repair.contact_sheet import write_contact_sheet

    sheet = clip.with_name(clip.stem + ".contact-sheet.png")
    write_contact_sheet(clip, sheet, ClipProvenance.from_json(read_sidecar(clip)))
    return sheet
