"""Detection benchmark: accuracy per defect kind against synthesized ground truth, and scan speed
against plain FFmpeg decoding of the same files, in one run.

    .venv/bin/python benchmarks/scan.py                      # 5 cameras x 10 min, seed 11
    .venv/bin/python benchmarks/scan.py --cameras 2 --minutes 4 --seed 3 --workers 2

Steps: `gapfill.synth.synthesize(faults="all")` writes the recordings and ground_truth.json into a
temporary directory; `gapfill.ingest.ingest` catalogues them into a temporary SQLite catalog;
`gapfill.detect.scan.scan` finds the defects; the defects are matched against the ground truth.

Matching (one detected defect matches one injected fault of the same camera and kind):
- in-file faults (everything with a file except a whole unreadable file): same recording, frame
  range edges each within one frame of the truth (frame_start and frame_end, end exclusive);
- faults that take a whole segment or a segment's tail (missing_segment, truncated): start and end
  times each within one segment boundary's slack, i.e. one frame duration of the truth.
Precision of a kind = matched detections / detections of that kind; recall = matched faults /
faults of that kind.

Speed: wall time of `ffmpeg -v error -nostdin -threads 0 -i FILE -f null -`, run once per file,
one file after the other (each FFmpeg uses all cores through its own frame threads), measured before
and after the scan; the ratio is scan wall time (decoding in `--workers` processes, detectors and
database writes included) over the mean of the two FFmpeg passes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from sqlalchemy import select

from gapfill.catalog.db import Catalog, upgrade
from gapfill.catalog.models import Camera, Defect, Recording
from gapfill.config import Settings
from gapfill.detect.scan import scan
from gapfill.ingest import ingest
from gapfill.synth.truth import FaultTruth, GroundTruth, parse_iso_utc
from gapfill.synth.writer import GROUND_TRUTH_NAME, synthesize

WHOLE_SEGMENT = ("missing_segment", "truncated")


def ffmpeg_decode_seconds(paths: list[Path]) -> float:
    """Wall time of plain FFmpeg decoding every file, one after the other."""
    began = time.perf_counter()
    for path in paths:
        subprocess.run(
            [
                "ffmpeg",
                "-v",
                "error",
                "-nostdin",
                "-threads",
                "0",
                "-i",
                str(path),
                "-f",
                "null",
                "-",
            ],
            check=False,
            capture_output=True,
        )
    return time.perf_counter() - began


def _matches(fault: FaultTruth, defect: dict[str, Any], frame_s: float) -> bool:
    if fault.kind != defect["kind"] or fault.camera != defect["camera"]:
        return False
    if fault.fault in WHOLE_SEGMENT:
        start, end = parse_iso_utc(fault.start), parse_iso_utc(fault.end)
        slack = dt.timedelta(seconds=frame_s * 1.0001)
        return abs(defect["start"] - start) <= slack and abs(defect["end"] - end) <= slack
    return (
        defect["path"] == fault.path
        and abs(defect["frame_start"] - fault.frame_start) <= 1
        and abs(defect["frame_end"] - fault.frame_end) <= 1
    )


def evaluate(truth: GroundTruth, defects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Precision and recall per kind, plus the unmatched items for inspection."""
    frame_s = {c.name: 1.0 / c.cadence_fps for c in truth.cameras}
    matched_defects: set[int] = set()
    per_kind: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"faults": 0, "found": 0, "detections": 0, "correct": 0, "missed": [], "false": []}
    )
    for fault in truth.faults:
        row = per_kind[fault.kind]
        row["faults"] += 1
        hits = [i for i, d in enumerate(defects) if _matches(fault, d, frame_s[fault.camera])]
        if hits:
            row["found"] += 1
            matched_defects.update(hits)
        else:
            row["missed"].append(
                f"{fault.id} {fault.fault} {fault.path} [{fault.frame_start},{fault.frame_end})"
            )
    for i, defect in enumerate(defects):
        row = per_kind[defect["kind"]]
        row["detections"] += 1
        if i in matched_defects:
            row["correct"] += 1
        else:
            row["false"].append(
                f"{defect['camera']} {defect['path']} "
                f"[{defect['frame_start']},{defect['frame_end']}) "
                f"{defect['start']:%H:%M:%S.%f}-{defect['end']:%H:%M:%S.%f} "
                f"{defect['detector']}"
            )
    for row in per_kind.values():
        row["recall"] = row["found"] / row["faults"] if row["faults"] else None
        row["precision"] = row["correct"] / row["detections"] if row["detections"] else None
    return dict(sorted(per_kind.items()))


def load_defects(catalog: Catalog, root: Path) -> list[dict[str, Any]]:
    with catalog.session() as session:
        rows = session.execute(
            select(Defect, Camera.name, Recording.path)
            .join(Camera, Defect.camera_id == Camera.id)
            .outerjoin(Recording, Defect.recording_id == Recording.id)
        ).all()
        return [
            {
                "camera": name,
                "kind": d.kind,
                "start": d.start_time,
                "end": d.end_time,
                "frame_start": d.frame_start,
                "frame_end": d.frame_end,
                "detector": d.detector,
                "path": Path(path).relative_to(root).as_posix() if path else None,
            }
            for d, name, path in rows
        ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cameras", type=int, default=5)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--dir", type=Path, help="work directory (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)

    if shutil.which("ffmpeg") is None:
        print("error: ffmpeg: not on PATH (Debian package ffmpeg)", file=sys.stderr)
        return 1
    work = args.dir or Path(tempfile.mkdtemp(prefix="gapfill-bench-scan-"))
    recordings = work / "recordings"
    try:
        if (recordings / GROUND_TRUTH_NAME).exists():
            truth = GroundTruth.load(recordings / GROUND_TRUTH_NAME)
        else:
            print(
                f"synthesizing {args.cameras} cameras x {args.minutes} min, seed {args.seed} "
                f"into {recordings}",
                file=sys.stderr,
            )
            truth = synthesize(
                recordings,
                cameras=args.cameras,
                minutes=args.minutes,
                faults="all",
                seed=args.seed,
                width=args.width,
                height=args.height,
            )
        database = work / "catalog.sqlite3"
        database.unlink(missing_ok=True)
        url = f"sqlite:///{database}"
        upgrade(url)
        catalog = Catalog(url)
        ingest(catalog, recordings, "frigate")
        files = sorted(recordings.rglob("*.mp4"))

        settings = Settings(data_dir=work / "data", database_url=url)
        ffmpeg_before = ffmpeg_decode_seconds(files)
        began = time.perf_counter()
        report = scan(catalog, settings, workers=args.workers, progress=False)
        scan_seconds = time.perf_counter() - began
        ffmpeg_after = ffmpeg_decode_seconds(files)
        ffmpeg_seconds = (ffmpeg_before + ffmpeg_after) / 2

        results = evaluate(truth, load_defects(catalog, recordings))
        catalog.dispose()
        summary = {
            "seed": truth.seed,
            "cameras": len(truth.cameras),
            "minutes": truth.args["minutes"],
            "size": f"{truth.args['width']}x{truth.args['height']}",
            "files": len(files),
            "faults": len(truth.faults),
            "scan_seconds": round(scan_seconds, 3),
            "ffmpeg_seconds": round(ffmpeg_seconds, 3),
            "ffmpeg_passes": [round(ffmpeg_before, 3), round(ffmpeg_after, 3)],
            "ratio": round(scan_seconds / ffmpeg_seconds, 3),
            "workers": args.workers,
            "scan": report.as_dict() | {"problems": len(report.as_dict()["problems"])},
            "kinds": results,
        }
        _print(summary, args.json)
        return 0
    finally:
        if not args.keep and args.dir is None:
            shutil.rmtree(work, ignore_errors=True)


def _print(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary, indent=2, default=str))
        return
    print(
        f"set: seed {summary['seed']}, {summary['cameras']} cameras x {summary['minutes']} min, "
        f"{summary['size']}, {summary['files']} files, {summary['faults']} injected faults"
    )
    print(
        "matching: same camera and kind; in-file faults: frame edges within 1 frame; "
        "missing segment / truncated: time edges within 1 frame of the segment boundary"
    )
    print(
        f"{'kind':<14}{'faults':>7}{'found':>7}{'recall':>8}{'detect':>8}{'correct':>8}"
        f"{'precision':>10}"
    )
    for kind, row in summary["kinds"].items():
        recall = "-" if row["recall"] is None else f"{row['recall']:.3f}"
        precision = "-" if row["precision"] is None else f"{row['precision']:.3f}"
        print(
            f"{kind:<14}{row['faults']:>7}{row['found']:>7}{recall:>8}{row['detections']:>8}"
            f"{row['correct']:>8}{precision:>10}"
        )
    for kind, row in summary["kinds"].items():
        for item in row["missed"]:
            print(f"  missed {kind}: {item}")
        for item in row["false"]:
            print(f"  false {kind}: {item}")
    print(
        f"speed: scan {summary['scan_seconds']:.2f} s ({summary['workers']} workers) vs ffmpeg "
        f"decode {summary['ffmpeg_seconds']:.2f} s (passes {summary['ffmpeg_passes']}): "
        f"ratio {summary['ratio']:.3f} (target <= 1.3)"
    )


if __name__ == "__main__":
    sys.exit(main())
