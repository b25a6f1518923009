"""`gapfill fill`: fill the holes of a video file, as an evaluation (registered in gapfill/cli.py).

The model and torch are imported inside the command, so that `gapfill --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path

import typer

from gapfill.errors import UserError


def fill(
    input: Path = typer.Argument(..., help="Video file with holes."),
    output: Path = typer.Option(..., "--output", "-o", help="Filled video file to write."),
    span: list[str] = typer.Option(
        [], "--span", help="Frames START:END (end exclusive) to replace; repeat for more."
    ),
    model: Path | None = typer.Option(
        None, "--model", help="Checkpoint folder (default: shipped)."
    ),
    seed: int = typer.Option(0, "--seed", help="Sampling seed."),
    backend: str | None = typer.Option(
        None,
        "--backend",
        help="auto, torch, onnx or tensorrt (default: the configuration's, auto: the fastest "
        "available; onnx and tensorrt use the export in MODEL/onnx or a MODEL that is one).",
    ),
) -> None:
    """Fill holes in a video with MALT and write every frame at the nominal rate.

    The holes in the timeline (missing timestamps) are filled, and with --span those frame ranges
    are replaced by predictions as well (spans that overlap or touch a hole are one hole). The
    output is an evaluation artefact: unmarked and not recorded. `gapfill repair` writes flagged,
    signed and catalogued reconstructions.
    """
    from gapfill.config import load_settings
    from gapfill.fill.fill_file import fill_file
    from gapfill.fill.fill_gap import KEPT, resolve_backend

    if not input.is_file():  # before loading a model for nothing
        raise UserError(f"{input}: no such file")
    settings = load_settings()
    # The engine is chosen once here and handed to fill_file as the model for every hole.
    engine = resolve_backend(
        model or settings.model_path, backend or settings.backend, settings.device
    )
    written = fill_file(input, output, span, model=engine, seed=seed)  # type: ignore[arg-type]
    kept = written.model_changes.count(KEPT)
    typer.echo(
        f"{output}: wrote {written.frames} frames, {written.filled} predicted ({engine.name}); "
        f"the model's learned change kept in {kept} of {len(written.holes)} holes, the first "
        "guess alone in the rest"
    )
