"""A camera's good footage from the catalog, as MALT training shots.

Which frames count as good:
- frames of recordings the scan has read (scanned_at set) and found ok or damaged; never of
  unreadable ones, and never of unscanned ones (ingest calls every file ok until the scan looks);
- from a damaged recording, only the frames outside its defects. Every defect of the camera is
  cut out, in any state (a repaired or ignored defect's original frames are still what they
  were), widened by GUARD_SECONDS on each side: damage often starts and ends a little around the
  frames a detector flags (a decode error smears until the next keyframe);
- frames inside [since, until).
Frames are matched to defects by time (recording start + the frame's time from the file's first
frame), the reference the scan writes defects in.

Consecutive recordings join into one shot when their frames follow on in time: recorders write
10 s segments, and a stage 2 training window of 8 segments is 144 frames. A shot ends at a cut-out
defect, a hole in the timeline, or a change of frame rate or size.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from gapfill.catalog.db import Catalog
from gapfill.catalog.queries.cameras import camera_by_name
from gapfill.catalog.queries.defects import defect_times
from gapfill.catalog.queries.recordings import training_recordings
from gapfill.errors import UserError
from gapfill.media.frames import read_frames, resize_frames
from gapfill.network.config import MaltConfig
from gapfill.training.data import RealShot, cover_size

GUARD_SECONDS = 1.0
# Frames are held in memory for the whole training run: past this many bytes the oldest
# recordings of the window are left out (fine-tuning wants the camera's recent footage).
FOOTAGE_BYTES = 2 << 30
# Segment start times come from file names rounded to the second: tolerate a little more than one
# frame interval between the last frame of one file and the first of the next.
JOIN_SLACK_SECONDS = 0.25


@dataclass(frozen=True)
class UsedRecording:
    id: int
    path: str
    sha256: str
    status: str
    frames: int  # frames of this recording in the footage


@dataclass
class Footage:
    camera: str
    shots: list[RealShot] = field(default_factory=list)
    times: list[np.ndarray] = field(default_factory=list)  # per shot: POSIX seconds of each frame
    recordings: list[UsedRecording] = field(default_factory=list)
    defect_ids: list[int] = field(default_factory=list)  # defects cut out
    skipped_recordings: int = 0  # oldest recordings left out to stay within FOOTAGE_BYTES

    @property
    def frames(self) -> int:
        return sum(len(shot.frames) for shot in self.shots)

    def summary(self) -> dict[str, Any]:
        """What the footage was, for the child model's training_summary (JSON)."""
        first = min((float(t[0]) for t in self.times), default=None)
        last = max((float(t[-1]) for t in self.times), default=None)
        return {
            "camera": self.camera,
            "recordings": [asdict(r) for r in self.recordings],
            "frames": self.frames,
            "shots": len(self.shots),
            "time_range": [_iso(first), _iso(last)],
            "defects_excluded": self.defect_ids,
            "guard_seconds": GUARD_SECONDS,
            "recordings_skipped_for_memory": self.skipped_recordings,
        }


@dataclass(frozen=True)
class _Row:
    id: int
    path: str
    sha256: str
    status: str
    start: float  # POSIX seconds
    fps: float | None
    frame_count: int
    height: int | None
    width: int | None


def camera_footage(
    catalog: Catalog,
    camera: str,
    config: MaltConfig,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    budget_bytes: int = FOOTAGE_BYTES,
) -> Footage:
    """The camera's good frames in [since, until) at cover size for `config`, as shots."""
    rows, defects = _query(catalog, camera, since, until)
    if not rows:
        raise UserError(f"--camera {camera}: no good recordings {_window_words(since, until)}")
    rows, skipped = _within_budget(rows, config, budget_bytes)
    excluded = np.asarray(
        sorted((s - GUARD_SECONDS, e + GUARD_SECONDS) for _, s, e in defects), dtype=np.float64
    ).reshape(-1, 2)
    footage = Footage(
        camera, defect_ids=sorted(d for d, _, _ in defects), skipped_recordings=skipped
    )
    builder = _ShotBuilder(camera, excluded, footage)
    for row in rows:
        times, frames = _decode(row, config, since, until)
        keep = ~inside(times, excluded)
        if keep.any():
            footage.recordings.append(
                UsedRecording(row.id, row.path, row.sha256, row.status, int(keep.sum()))
            )
            fps = row.fps or _measured_fps(times)
            builder.add(times[keep], frames[keep], fps)
    builder.flush()
    if not footage.shots:
        raise UserError(
            f"--camera {camera}: no good frames {_window_words(since, until)} "
            f"({len(rows)} recordings, all inside defects)"
        )
    return footage


def inside(times: np.ndarray, intervals: np.ndarray) -> np.ndarray:
    """Which of `times` lie in any [start, end) of `intervals` (N, 2)."""
    mask = np.zeros(len(times), dtype=bool)
    for start, end in intervals:
        mask |= (times >= start) & (times < end)
    return mask


def shot_breaks(times: np.ndarray, intervals: np.ndarray, gap_limit: float) -> list[int]:
    """Indices where a new shot starts among increasing kept `times` (none inside `intervals`):
    after a hole longer than `gap_limit`, or where a cut-out interval lies between two frames."""
    steps = np.diff(times)
    # A step back in time (overlapping files) cuts too: a shot's frames must follow on.
    breaks = set(np.flatnonzero((steps > gap_limit) | (steps <= 0)) + 1)
    for _start, end in intervals:
        # No kept frame is inside [start, end): the first one at or after `end` follows it.
        i = int(np.searchsorted(times, end, side="left"))
        if 0 < i < len(times):
            breaks.add(i)
    return sorted(int(b) for b in breaks)


class _ShotBuilder:
    """Appends decoded runs of frames, recording by recording, into shots."""

    def __init__(self, camera: str, excluded: np.ndarray, footage: Footage) -> None:
        self.camera = camera
        self.excluded = excluded
        self.footage = footage
        self.times: list[np.ndarray] = []
        self.frames: list[np.ndarray] = []
        self.fps = 0.0

    def add(self, times: np.ndarray, frames: np.ndarray, fps: float) -> None:
        gap_limit = 1.5 / fps + JOIN_SLACK_SECONDS
        same_kind = bool(self.frames) and (
            abs(fps - self.fps) <= 0.02 * fps and frames.shape[1:] == self.shape
        )
        # The last kept frame so far goes in front, so a hole or defect between files also cuts.
        lead = self.times[-1][-1:] if same_kind else np.zeros(0)
        joined = np.concatenate([lead, times])
        cuts = [b - len(lead) for b in shot_breaks(joined, self.excluded, gap_limit)]
        if not same_kind or 0 in cuts:
            self.flush()
        self.fps = fps
        bounds = [0, *(c for c in cuts if c > 0), len(times)]
        for k, (a, b) in enumerate(pairwise(bounds)):
            if k > 0:
                self.flush()
            self.times.append(times[a:b])
            self.frames.append(frames[a:b])

    @property
    def shape(self) -> tuple[int, ...]:
        return self.frames[-1].shape[1:]

    def flush(self) -> None:
        if self.frames:
            times = np.concatenate(self.times)
            frames = np.concatenate(self.frames)
            if len(frames):
                name = f"{self.camera}@{_iso(float(times[0]))}+{len(frames)}"
                self.footage.shots.append(RealShot(name, frames, self.fps))
                self.footage.times.append(times)
        self.times, self.frames = [], []


def _query(
    catalog: Catalog, camera: str, since: dt.datetime | None, until: dt.datetime | None
) -> tuple[list[_Row], list[tuple[int, float, float]]]:
    """The camera's scanned, readable recordings overlapping the window (oldest first), and its
    defects (id, start, end in POSIX seconds) near it. A short session: decoding comes after."""
    with catalog.session() as session:
        cam = camera_by_name(session, camera)
        if cam is None:
            raise UserError(f"--camera: no camera named {camera!r} in the catalog")
        guard = dt.timedelta(seconds=GUARD_SECONDS)
        rows = [
            _Row(
                r.id,
                r.path,
                r.sha256,
                r.status,
                r.start_time.timestamp(),
                r.fps or cam.cadence_fps or cam.nominal_fps,
                r.frame_count,
                r.height or cam.height,
                r.width or cam.width,
            )
            for r in training_recordings(session, cam.id, since, until)
        ]
        near = defect_times(
            session,
            cam.id,
            since - guard if since is not None else None,
            until + guard if until is not None else None,
        )
        found = [(i, s.timestamp(), e.timestamp()) for i, s, e in near]
    return rows, found


def _within_budget(
    rows: list[_Row], config: MaltConfig, budget_bytes: int
) -> tuple[list[_Row], int]:
    """The newest recordings whose frames fit in `budget_bytes` (at least one)."""
    total, keep = 0, 0
    for row in reversed(rows):
        h, w = cover_size(row.height or config.height, row.width or config.width, config)
        total += row.frame_count * h * w * 3
        if keep and total > budget_bytes:
            break
        keep += 1
    return rows[len(rows) - keep :], len(rows) - keep


def _decode(
    row: _Row, config: MaltConfig, since: dt.datetime | None, until: dt.datetime | None
) -> tuple[np.ndarray, np.ndarray]:
    """(POSIX times, frames at cover size) of the recording's frames inside the window."""
    start_s = max(0.0, since.timestamp() - row.start) if since is not None else 0.0
    end_s = until.timestamp() - row.start if until is not None else float("inf")
    size = cover_size(row.height, row.width, config) if row.height and row.width else None
    timed = read_frames(Path(row.path), start_s, end_s, size=size)
    frames = timed.frames
    if size is None and len(frames):  # no size in the catalog: scale after decoding
        frames = resize_frames(frames, cover_size(*frames.shape[1:3], config))
    return row.start + timed.times, frames


def _measured_fps(times: np.ndarray) -> float:
    if len(times) < 2:
        return 10.0
    return float(1.0 / max(np.median(np.diff(times)), 1e-3))


def _iso(posix: float | None) -> str | None:
    if posix is None:
        return None
    return dt.datetime.fromtimestamp(posix, dt.UTC).isoformat()


def _window_words(since: dt.datetime | None, until: dt.datetime | None) -> str:
    if since is None and until is None:
        return "in the catalog (scanned, not unreadable)"
    return (
        f"between {since.isoformat() if since else 'the start'} and "
        f"{until.isoformat() if until else 'now'} (scanned, not unreadable)"
    )
