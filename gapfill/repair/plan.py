"""Plan a repair: which real frames surround a defect, and how many frames the hole needs.

Context is read across file boundaries (the span may sit at the end of one segment and the start
of the next), and frames that lie inside any other defect of the camera are never used as context:
a frozen or garbled frame is not "real footage". A defect without enough real footage around it,
or longer than the configured maximum, is unrepairable, with the reason in words.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session

from gapfill.catalog.models import Camera, Defect, Recording
from gapfill.catalog.queries.defects import other_defect_spans
from gapfill.catalog.queries.recordings import readable_recordings_overlapping
from gapfill.config import Settings
from gapfill.errors import UserError
from gapfill.media.frames import read_frames


@dataclass
class Context:
    """Real frames on one side of the hole, oldest first, with their wall-clock times."""

    times: list[dt.datetime] = field(default_factory=list)
    frames: list[np.ndarray] = field(default_factory=list)
    recordings: dict[int, tuple[str, str]] = field(default_factory=dict)  # id -> (path, sha256)

    def array(self) -> np.ndarray:
        if not self.frames:
            return np.zeros((0, 0, 0, 3), np.uint8)
        return np.stack(self.frames)


@dataclass
class RepairPlan:
    defect_id: int
    camera: str
    camera_id: int
    fps: float
    span_start: dt.datetime
    span_end: dt.datetime
    n_missing: int
    before: Context
    after: Context

    @property
    def synthetic_times(self) -> list[dt.datetime]:
        step = dt.timedelta(seconds=1.0 / self.fps)
        return [self.span_start + i * step for i in range(self.n_missing)]

    @property
    def inputs(self) -> dict[int, tuple[str, str]]:
        return {**self.before.recordings, **self.after.recordings}


class Unrepairable(Exception):
    """The defect cannot be repaired; the message says why, for the defect's state_reason."""


def camera_fps(camera: Camera, recording: Recording | None) -> float:
    for value in (camera.cadence_fps, camera.nominal_fps, recording.fps if recording else None):
        if value:
            return float(value)
    raise Unrepairable(f"camera {camera.name}: frame rate unknown (no readable recording)")


def plan_repair(session: Session, settings: Settings, defect: Defect) -> RepairPlan:
    """Gather the context of `defect` at source resolution. Raises Unrepairable with a reason."""
    camera = session.get(Camera, defect.camera_id)
    assert camera is not None
    recording = session.get(Recording, defect.recording_id) if defect.recording_id else None
    fps = camera_fps(camera, recording)
    length_s = (defect.end_time - defect.start_time).total_seconds()
    if length_s > settings.max_span_seconds:
        raise Unrepairable(
            f"span of {length_s:.1f} s exceeds max_span_seconds={settings.max_span_seconds:g}"
        )
    if defect.frame_start is not None and defect.frame_end is not None:
        n_missing = defect.frame_end - defect.frame_start  # in-file damage: exactly those frames
    else:
        n_missing = max(1, round(length_s * fps))

    window = dt.timedelta(seconds=settings.context_seconds)
    others = other_defect_spans(session, defect, window)
    before = _context(session, camera.id, defect.start_time - window, defect.start_time, others)
    after = _context(session, camera.id, defect.end_time, defect.end_time + window, others)
    if not before.frames and not after.frames:
        raise Unrepairable(
            f"no real footage within {settings.context_seconds:g} s on either side of the span"
        )
    shapes = {f.shape for f in before.frames + after.frames}
    if len(shapes) > 1:
        raise Unrepairable(f"context frames differ in size {sorted(shapes)}: camera changed mode")
    return RepairPlan(
        defect_id=defect.id,
        camera=camera.name,
        camera_id=camera.id,
        fps=fps,
        span_start=defect.start_time,
        span_end=defect.end_time,
        n_missing=n_missing,
        before=before,
        after=after,
    )


def _context(
    session: Session,
    camera_id: int,
    start: dt.datetime,
    end: dt.datetime,
    excluded: list[tuple[dt.datetime, dt.datetime]],
) -> Context:
    recordings = readable_recordings_overlapping(session, camera_id, start, end)
    context = Context()
    for recording in recordings:
        path = Path(recording.path)
        if not path.exists():
            raise UserError(f"{path}: recording {recording.id} is in the catalog but not on disk")
        offset_start = (start - recording.start_time).total_seconds()
        offset_end = (end - recording.start_time).total_seconds()
        decoded = read_frames(path, max(0.0, offset_start), offset_end)
        used = False
        for t, frame in zip(decoded.times, decoded.frames, strict=True):
            when = recording.start_time + dt.timedelta(seconds=float(t))
            if any(a <= when < b for a, b in excluded):
                continue
            context.times.append(when)
            context.frames.append(frame)
            used = True
        if used:
            context.recordings[recording.id] = (recording.path, recording.sha256)
    return context
