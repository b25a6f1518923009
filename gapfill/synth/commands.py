"""`gapfill synth`: write simulated camera recordings with faults and their ground truth."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gapfill.console import progress
from gapfill.errors import UserError
from gapfill.synth.faults import FAULT_KINDS
from gapfill.synth.truth import parse_iso_utc
from gapfill.synth.writer import DEFAULT_START, GROUND_TRUTH_NAME, synthesize

FAULT_HELP = (
    "Faults to inject: 'default' (a realistic mix), 'none', 'all' (every kind and variant at "
    "least once per camera), or a comma list of kinds with optional counts, e.g. "
    f"'black,frozen:2'. Kinds: {', '.join(FAULT_KINDS)}."
)


def synth(
    out: Annotated[Path, typer.Option("--out", help="New or empty directory to write into.")],
    cameras: Annotated[int, typer.Option(help="Number of simulated cameras.")] = 2,
    minutes: Annotated[float, typer.Option(help="Length of each camera's recording.")] = 3.0,
    faults: Annotated[str, typer.Option(help=FAULT_HELP)] = "default",
    seed: Annotated[int, typer.Option(help="Same seed and options give identical files.")] = 7,
    fps: Annotated[float, typer.Option(help="The cameras' nominal frame rate.")] = 10.0,
    width: Annotated[int, typer.Option(help="Frame width in pixels (even).")] = 640,
    height: Annotated[int, typer.Option(help="Frame height in pixels (even).")] = 360,
    segment_seconds: Annotated[float, typer.Option(help="Length of each segment file.")] = 10.0,
    start: Annotated[
        str | None,
        typer.Option(help="UTC time of the first frame, ISO-8601 [default: 2026-01-05T06:59:00Z]."),
    ] = None,
    cadence_fps: Annotated[
        float | None,
        typer.Option(help="Frame rate the cameras really deliver (e.g. 9.6 on a 10 fps setting)."),
    ] = None,
    static: Annotated[
        bool, typer.Option("--static", help="Scenes without moving parts (idle machines).")
    ] = False,
    workers: Annotated[
        int | None, typer.Option(help="Encoding processes [default: up to 2].")
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print a JSON summary on stdout.")
    ] = False,
) -> None:
    """Write simulated equipment-camera recordings (H.264 MP4, 10 s segments in a Frigate-like
    <date>/<hour>/<camera>/<MM>.<SS>.mp4 layout) with injected faults, and ground_truth.json
    listing every segment and fault. Deterministic: the same options give identical bytes."""
    try:
        first_frame = DEFAULT_START if start is None else parse_iso_utc(start)
    except ValueError:
        raise UserError(f"--start: {start!r} is not an ISO-8601 time with a timezone") from None
    except OverflowError:
        raise UserError(f"--start: {start!r} is outside the years 1 to 9999 in UTC") from None

    began = time.perf_counter()
    with progress("writing segments", total=None, transient=True) as bar:

        def report(done: int, total: int) -> None:
            bar.update(completed=done, total=total)

        truth = synthesize(
            out,
            cameras=cameras,
            minutes=minutes,
            faults=faults,
            seed=seed,
            start=first_frame,
            fps=fps,
            width=width,
            height=height,
            segment_seconds=segment_seconds,
            cadence_fps=cadence_fps,
            static=static,
            workers=workers,
            progress=report,
        )
    seconds = time.perf_counter() - began

    total_bytes = sum(s.bytes for s in truth.segments)
    if json_output:
        summary = {
            "out": str(out),
            "ground_truth": str(out / GROUND_TRUTH_NAME),
            "cameras": [c.name for c in truth.cameras],
            "segments": len(truth.segments),
            "bytes": total_bytes,
            "faults": len(truth.faults),
            "faults_by_kind": dict(sorted(Counter(f.kind for f in truth.faults).items())),
            "seconds": round(seconds, 2),
        }
        typer.echo(json.dumps(summary, indent=2))
        return

    console = Console()
    table = Table(title=f"{len(truth.faults)} injected faults")
    for column in ("camera", "fault", "kind", "start (UTC)", "end (UTC)", "file"):
        table.add_column(column)
    for fault in truth.faults:
        fault_name = fault.fault + (f" ({fault.variant})" if fault.variant else "")
        table.add_row(
            fault.camera,
            fault_name,
            fault.kind,
            fault.start[:-4] + "Z",  # milliseconds are enough on screen
            fault.end[:-4] + "Z",
            fault.path or "-",
        )
    if truth.faults:
        console.print(table)
    console.print(
        f"wrote {len(truth.segments)} segments ({total_bytes / 1e6:.1f} MB) of "
        f"{len(truth.cameras)} cameras to {out} in {seconds:.1f} s"
    )
    console.print(f"ground truth: {out / GROUND_TRUTH_NAME}")
