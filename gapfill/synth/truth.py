"""The ground truth of a synthesized recording set: what was written and every fault injected.

The JSON layout is documented in `gapfill.synth.writer`; this module holds the typed records and
their (de)serialisation. `GroundTruth.load(path)` is what a detector benchmark calls.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gapfill.media.encode import atomic_write_bytes

FORMAT_NAME = "gapfill.synth.ground_truth"
FORMAT_VERSION = 1


def iso_utc(moment: datetime) -> str:
    """ISO-8601 in UTC with microseconds and a Z suffix: 2026-01-05T06:59:00.000000Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso_utc(text: str) -> datetime:
    """Inverse of iso_utc; also accepts offsets like +00:00. Always returns an aware UTC time."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"time {text!r} has no timezone")
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class CameraTruth:
    name: str
    nominal_fps: float  # the camera's setting, also written as the stream's frame rate
    cadence_fps: float  # frames really delivered per second; timestamps follow this
    width: int
    height: int
    gop_frames: int
    scene_seed: int


@dataclass(frozen=True)
class SegmentTruth:
    camera: str
    path: str  # relative to the ground truth's directory, "/" separated
    start: str  # ISO-8601 UTC: time of frame 0
    end: str  # ISO-8601 UTC: start + planned_frames / cadence (exclusive)
    planned_frames: int  # frames on the segment's timeline before any fault
    frames_encoded: int  # frames handed to the encoder (planned minus dropped)
    bytes: int
    sha256: str


@dataclass(frozen=True)
class FaultTruth:
    id: str  # "<camera>/<n>", unique in the file
    camera: str
    fault: str  # what was done: missing_segment, dropped_frames, corrupted_packets, ...
    kind: str  # defect kind a detector should report: missing, decode_error, frozen, ...
    variant: str | None  # truncated: tail|index; timestamp: backwards|repeat; else None
    start: str  # ISO-8601 UTC, time of frame_start
    end: str  # ISO-8601 UTC, time of frame_end (exclusive)
    path: str | None  # the damaged file; None when no file was written (missing segment)
    frame_start: int  # on the segment's planned timeline: frame k is at segment start + k/cadence
    frame_end: int  # exclusive
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class GroundTruth:
    seed: int
    args: dict[str, Any]
    cameras: list[CameraTruth]
    segments: list[SegmentTruth]
    faults: list[FaultTruth]
    format: str = FORMAT_NAME
    version: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "version": self.version,
            "seed": self.seed,
            "args": self.args,
            "cameras": [asdict(c) for c in self.cameras],
            "segments": [asdict(s) for s in self.segments],
            "faults": [asdict(f) for f in self.faults],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GroundTruth:
        if data.get("format") != FORMAT_NAME:
            raise ValueError(f"not a gapfill synth ground truth (format {data.get('format')!r})")
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(f"ground truth version {data.get('version')} is not {FORMAT_VERSION}")
        return cls(
            seed=data["seed"],
            args=data["args"],
            cameras=[CameraTruth(**c) for c in data["cameras"]],
            segments=[SegmentTruth(**s) for s in data["segments"]],
            faults=[FaultTruth(**f) for f in data["faults"]],
        )

    def save(self, path: str | os.PathLike[str]) -> None:
        text = json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"
        atomic_write_bytes(path, text.encode("utf-8"))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> GroundTruth:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
