"""One recording file, end to end: decode it, measure every frame, run every in-file detector.

`analyse_file` is the expensive half (decoding) and runs in a worker process; it returns only small
per-frame signals. `find_defects` is the cheap half, run where the camera's figures are known
(its cadence and noise floor), and is a pure function of its inputs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from gapfill.config import DetectionSettings
from gapfill.detect.decode_damage import detect_decode_damage
from gapfill.detect.features import FeatureExtractor, FrameFeatures, black_luma_threshold
from gapfill.detect.merge import merge_spans
from gapfill.detect.picture import (
    detect_black,
    detect_blocky,
    detect_frozen,
    detect_green,
    noise_floor,
)
from gapfill.detect.spans import Span
from gapfill.detect.timeline import (
    FileTimeline,
    detect_file_gaps,
    detect_timestamp_errors,
    place_frames,
)
from gapfill.errors import UserError
from gapfill.media.decode import AnalysisDecoder, DecodeResult, analysis_scale

# Block grids a starved or broken encoder leaves, in full-size pixels (transform blocks and
# macroblocks).
BLOCK_GRIDS = (8, 16)


@dataclass
class FileAnalysis:
    """What decoding one file measured: the decode outcome and per-frame signals."""

    path: str
    decode: DecodeResult
    features: FrameFeatures
    seconds: float  # wall time spent decoding and measuring


@dataclass
class FileFindings:
    """The in-file defects of one recording and the figures the scan keeps about the file."""

    spans: list[Span] = field(default_factory=list)
    status: str = "ok"  # ok / damaged / unreadable
    reason: str | None = None
    interval: float | None = None  # the file's measured frame interval (None: too few frames)
    noise_floor: float | None = None
    frames: int = 0  # frames decoded
    # Seconds of the camera's clock the decodable frames cover (slots x interval): where the
    # recording really ends, even when the container's index claims more.
    covered_seconds: float = 0.0


def analyse_file(path: str, settings: DetectionSettings) -> FileAnalysis:
    """Decode `path` at analysis size and measure every frame. Never raises on bad media."""
    began = time.perf_counter()
    decoder = AnalysisDecoder(path, short_side=settings.analysis_short_side)
    extractor: FeatureExtractor | None = None
    for batch in decoder.batches():
        if extractor is None:
            result = decoder.result
            factor = analysis_scale(result.width, result.height, settings.analysis_short_side)
            extractor = FeatureExtractor(
                black_luma_threshold(settings.black_pixel_luma, result.full_range),
                tuple(grid // factor for grid in BLOCK_GRIDS),
            )
        extractor.add(batch)
    features = extractor.finish() if extractor else FrameFeatures.empty()
    return FileAnalysis(path, decoder.result, features, time.perf_counter() - began)


def find_defects(
    analysis: FileAnalysis,
    settings: DetectionSettings,
    interval_hint: float | None = None,
    camera_noise_floor: float | None = None,
) -> FileFindings:
    """Run every in-file detector over one analysed file and merge what they found."""
    decode, features = analysis.decode, analysis.features
    if not decode.readable:
        return FileFindings(status="unreadable", reason=decode.reason)
    timeline: FileTimeline = place_frames(features, interval_hint)
    spans = [
        *detect_file_gaps(timeline, features.time, settings.gap_factor),
        *detect_timestamp_errors(features, timeline),
        *detect_decode_damage(features, timeline, decode),
        *detect_green(features, timeline, settings),
        *detect_black(features, timeline, settings),
        *detect_frozen(features, timeline, settings, camera_noise_floor),
        *detect_blocky(features, timeline, settings),
    ]
    merged = merge_spans(spans, tolerance=timeline.interval * 0.5)
    findings = FileFindings(
        spans=merged,
        interval=timeline.interval if len(features) > 2 else None,
        noise_floor=noise_floor(features, settings),
        frames=len(features),
        covered_seconds=timeline.slot_count * timeline.interval,
    )
    problems = []
    if decode.status == "truncated":
        problems.append(decode.reason or "container ends abruptly")
    if merged:
        kinds = sorted({s.kind for s in merged})
        problems.append(f"{len(merged)} defect span(s): {', '.join(kinds)}")
    if problems:
        findings.status, findings.reason = "damaged", "; ".join(problems)
    return findings


def scan_file(path: str | Path, settings: DetectionSettings | None = None) -> FileFindings:
    """Every in-file defect of one recording, without a catalog: the library's `gapfill scan`.

    The same two halves a catalog scan runs per file (analyse_file, then find_defects), with the
    default thresholds unless `settings` is given. Only in-file defects: gaps between files need
    the camera's other recordings. A file that is not there is a UserError; a file that is there
    but cannot be decoded is a finding (status "unreadable"), as in a catalog scan.
    """
    if not Path(path).is_file():
        raise UserError(f"{path}: no such file")
    settings = settings or DetectionSettings()
    return find_defects(analyse_file(str(path), settings), settings)
