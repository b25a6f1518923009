"""`scan`: turn catalogued recordings into defects.

Files are decoded in worker processes (one file per task, `workers` at a time); every database
write happens here in the parent, one recording per transaction, so an interrupted scan keeps what
it finished and the next scan picks up the rest (recordings with scanned_at NULL).

Idempotent: scanning a recording again replaces its `open` defects; a defect a person or the repair
queue has already acted on (queued, repaired, unrepairable, ignored) is kept as it is, and a new
finding with the same (camera, kind, start) is not written twice.
"""

from __future__ import annotations

import datetime as dt
import faulthandler
import logging
import multiprocessing
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import ValidationError
from sqlalchemy.orm import Session

from gapfill.catalog.db import Catalog
from gapfill.catalog.models import Camera, Defect, Recording
from gapfill.catalog.queries import cameras as cameras_q
from gapfill.catalog.queries import defects as defects_q
from gapfill.catalog.queries.cameras import option_camera_id
from gapfill.catalog.queries.defects import DefectFilter
from gapfill.catalog.queries.recordings import (
    coverage_rows,
    neighbouring_readable_start,
    recordings_to_scan,
)
from gapfill.catalog.timeline_names import DEFAULT_INTERVAL, RECORDING_GAP_DETECTOR
from gapfill.config import DetectionSettings, Settings
from gapfill.console import progress as progress_bar
from gapfill.detect.features import FrameFeatures
from gapfill.detect.recording import FileAnalysis, FileFindings, analyse_file, find_defects
from gapfill.detect.spans import Span
from gapfill.detect.timeline import detect_recording_gaps, recording_coverage
from gapfill.errors import UserError
from gapfill.media.decode import DecodeResult

log = logging.getLogger(__name__)

# What decodes and measures one file: analyse_file, or a stand-in (tests crash a worker with one).
# It runs in the worker processes, so it must be a module-level function (pickled by name).
Analyse = Callable[[str, DetectionSettings], FileAnalysis]


@dataclass
class ScanReport:
    """What one scan did."""

    scanned: int = 0
    ok: int = 0
    damaged: list[tuple[str, str]] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    defects_written: int = 0
    defects_kept: int = 0  # findings already acted on by a person or the repair queue
    by_kind: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    decode_seconds: float = 0.0  # summed over workers

    def as_dict(self) -> dict[str, Any]:
        return {
            "scanned": self.scanned,
            "ok": self.ok,
            "damaged": len(self.damaged),
            "unreadable": len(self.unreadable),
            "defects_written": self.defects_written,
            "defects_kept": self.defects_kept,
            "by_kind": dict(sorted(self.by_kind.items())),
            "seconds": round(self.seconds, 3),
            "problems": [
                {"path": p, "status": s, "reason": r}
                for s, items in (("damaged", self.damaged), ("unreadable", self.unreadable))
                for p, r in items
            ],
        }


@dataclass(frozen=True)
class _Job:
    recording_id: int
    camera_id: int
    path: str
    start: dt.datetime


@dataclass
class _CameraState:
    """What the scan learns about a camera while its files come back."""

    name: str
    settings: DetectionSettings
    interval: float  # seconds per frame, from the learned cadence or the nominal rate
    noise_floors: list[float] = field(default_factory=list)
    clean_intervals: list[float] = field(default_factory=list)
    scanned_from: dt.datetime | None = None
    scanned_to: dt.datetime | None = None

    @property
    def noise_floor(self) -> float | None:
        return float(np.median(self.noise_floors)) if self.noise_floors else None


def camera_settings(base: DetectionSettings, camera: Camera) -> DetectionSettings:
    """The camera's thresholds: the installation's, with the camera's overrides on top."""
    overrides = camera.detector_overrides or {}
    unknown = sorted(set(overrides) - set(DetectionSettings.model_fields))
    if unknown:
        raise UserError(f"camera {camera.name}: unknown detector override(s): {', '.join(unknown)}")
    try:
        return DetectionSettings.model_validate({**base.model_dump(), **overrides})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UserError(
            f"camera {camera.name}: detector override {where}: {first['msg']}"
        ) from None


def scan(
    catalog: Catalog,
    settings: Settings,
    camera: str | None = None,
    since: dt.datetime | None = None,
    rescan: bool = False,
    workers: int = 2,
    progress: bool = True,
    analyse: Analyse = analyse_file,
) -> ScanReport:
    """Scan unscanned recordings (all of them with `rescan`) and write their defects."""
    began = time.perf_counter()
    report = ScanReport()
    with catalog.session() as session:
        cameras = _select_cameras(session, camera)
        states = {
            cam.id: _CameraState(
                name=cam.name,
                settings=camera_settings(settings.detect, cam),
                interval=1.0 / (cam.cadence_fps or cam.nominal_fps or 1.0 / DEFAULT_INTERVAL),
            )
            for cam in cameras
        }
        jobs = [
            _Job(r.id, r.camera_id, r.path, r.start_time)
            for r in recordings_to_scan(session, states, since, rescan)
        ]

    with progress_bar("scan", total=len(jobs), enabled=progress) as bar:
        for job, analysis in _analyse_all(jobs, states, workers, analyse):
            state = states[job.camera_id]
            findings = find_defects(analysis, state.settings, state.interval, state.noise_floor)
            _learn(state, job, findings)
            with catalog.session() as session:
                _store_file(session, job, findings, report)
            report.decode_seconds += analysis.seconds
            bar.advance()

    with catalog.session() as session:
        for camera_id, state in states.items():
            if state.scanned_from is None:
                continue
            cam = session.get(Camera, camera_id)
            assert cam is not None
            if state.clean_intervals:
                cam.cadence_fps = round(1.0 / float(np.median(state.clean_intervals)), 4)
                state.interval = 1.0 / cam.cadence_fps
            _store_recording_gaps(session, camera_id, state, report)
    report.seconds = time.perf_counter() - began
    return report


def _select_cameras(session: Session, name: str | None) -> list[Camera]:
    cameras = cameras_q.cameras(session, name)
    if name is not None and not cameras:
        raise UserError(f"--camera: no camera named {name!r} in the catalog")
    return cameras


def _analyse_all(
    jobs: list[_Job], states: dict[int, _CameraState], workers: int, analyse: Analyse
) -> Iterator[tuple[_Job, FileAnalysis]]:
    """Decode every job's file in worker processes, never in the scanning process: the daemon
    scans there, and a file that crashes or hangs its decoder (FFmpeg itself failing on hostile
    bytes) must cost that file, not the daemon or the scan. The files a broken pool left undone
    are retried one process each, and the one that breaks it again is reported unreadable."""
    if not jobs:
        return
    undone: list[_Job] = []
    for job, analysis in _pool_map(jobs, states, max(1, min(workers, len(jobs))), analyse):
        if analysis is None:
            undone.append(job)
        else:
            yield job, analysis
    for job in undone:
        [(_, analysis)] = _pool_map([job], states, 1, analyse)
        timeout = states[job.camera_id].settings.decode_timeout_seconds
        reason = f"decoder process died on this file (crashed, or ran past {timeout:g} s)"
        yield job, analysis or _crashed(job, reason)


def _pool_map(
    jobs: list[_Job], states: dict[int, _CameraState], workers: int, analyse: Analyse
) -> Iterator[tuple[_Job, FileAnalysis | None]]:
    """(job, analysis) as they finish; analysis None when the pool broke before the job ended."""
    with ProcessPoolExecutor(max_workers=workers, mp_context=_worker_context()) as pool:
        futures = {pool.submit(_analyse_safely, analyse, job, states): job for job in jobs}
        for future in as_completed(futures):
            try:
                yield futures[future], future.result()
            except BrokenProcessPool:
                yield futures[future], None


def _worker_context() -> multiprocessing.context.BaseContext:
    """Where decoder processes come from: a fork server, not a fork of this process.

    The scanning process has threads by then (the daemon's scheduler and metrics server, the
    progress bar's refresh, OpenCV's and PyTorch's pools), and a fork copies the locks they hold
    without the threads that would release them: a child that takes one waits for ever, and so
    does the pool's shutdown here (tests/test_detect_scan.py holds one on purpose). The fork
    server is a fresh, single-threaded process that has imported this module once; workers fork
    from it in milliseconds. Where there is no fork server (not Linux), spawn."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


def _analyse_safely(analyse: Analyse, job: _Job, states: dict[int, _CameraState]) -> FileAnalysis:
    """In a worker process: analyse(job's file), a bug reported as the file's own failure. Past
    the camera's decode_timeout_seconds the process prints every thread's stack and exits, from a
    C thread that needs no GIL, so even a decoder stuck inside FFmpeg ends; the pool breaks and
    the file is retried alone."""
    settings = states[job.camera_id].settings
    faulthandler.dump_traceback_later(settings.decode_timeout_seconds, exit=True)
    try:
        return analyse(job.path, settings)
    except Exception as exc:  # a bug, not bad media (analyse_file reports that itself)
        log.exception("analysing %s failed", job.path)
        return _crashed(job, f"internal error while decoding: {type(exc).__name__}: {exc}")
    finally:
        faulthandler.cancel_dump_traceback_later()


def _crashed(job: _Job, reason: str) -> FileAnalysis:
    return FileAnalysis(
        job.path,
        DecodeResult(job.path, status="unreadable", reason=reason),
        FrameFeatures.empty(),
        0.0,
    )


def _learn(state: _CameraState, job: _Job, findings: FileFindings) -> None:
    if findings.noise_floor is not None:
        state.noise_floors.append(findings.noise_floor)
    timeline_trouble = any(s.kind in ("missing", "timestamp") for s in findings.spans)
    if findings.interval and not timeline_trouble and findings.status != "unreadable":
        state.clean_intervals.append(findings.interval)
    if state.scanned_from is None or job.start < state.scanned_from:
        state.scanned_from = job.start
    if state.scanned_to is None or job.start > state.scanned_to:
        state.scanned_to = job.start


def _store_file(session: Session, job: _Job, findings: FileFindings, report: ScanReport) -> None:
    recording = session.get(Recording, job.recording_id)
    assert recording is not None
    defects_q.delete_open_defects_of_recording(session, job.recording_id)
    # In-file spans count from the recording's first frame.
    for span in findings.spans:
        _write_defect(
            session,
            report,
            camera_id=job.camera_id,
            recording_id=job.recording_id,
            span=span,
            start=recording.start_time + dt.timedelta(seconds=span.start),
            end=recording.start_time + dt.timedelta(seconds=span.end),
        )
    if findings.status != "unreadable" and findings.interval:
        # What decodes decides where the recording ends (a file cut short may still carry an
        # index for every frame); the between-recordings pass measures holes from here.
        covered = dt.timedelta(seconds=findings.covered_seconds)
        if abs(recording.start_time + covered - recording.end_time).total_seconds() > (
            0.5 * findings.interval
        ):
            recording.end_time = recording.start_time + covered
            recording.duration_s = findings.covered_seconds
    recording.status = findings.status
    recording.status_reason = findings.reason
    recording.scanned_at = dt.datetime.now(dt.UTC)
    report.scanned += 1
    if findings.status == "ok":
        report.ok += 1
    elif findings.status == "damaged":
        report.damaged.append((job.path, findings.reason or ""))
    else:
        report.unreadable.append((job.path, findings.reason or "unreadable"))


def _write_defect(
    session: Session,
    report: ScanReport,
    camera_id: int,
    recording_id: int | None,
    span: Span,
    start: dt.datetime,
    end: dt.datetime,
) -> None:
    existing = defects_q.defect_at(session, camera_id, span.kind, start)
    if existing is not None:
        # Already acted on (queued, repaired, ...): keep the person's or the queue's decision.
        report.defects_kept += 1
        return
    session.add(
        Defect(
            camera_id=camera_id,
            recording_id=recording_id,
            kind=span.kind,
            start_time=start,
            end_time=end,
            frame_start=span.frame_start,
            frame_end=span.frame_end,
            detector=span.detector,
            figures=span.figures,
        )
    )
    session.flush()
    report.defects_written += 1
    report.by_kind[span.kind] = report.by_kind.get(span.kind, 0) + 1


def _store_recording_gaps(
    session: Session, camera_id: int, state: _CameraState, report: ScanReport
) -> None:
    """Holes between the camera's recordings around the scanned ones, written afresh."""
    assert state.scanned_from is not None and state.scanned_to is not None
    # The scanned stretch, widened to the neighbouring recordings on each side.
    before = neighbouring_readable_start(session, camera_id, state.scanned_from, later=False)
    after = neighbouring_readable_start(session, camera_id, state.scanned_to, later=True)
    low, high = before or state.scanned_from, after or state.scanned_to
    coverage = recording_coverage(coverage_rows(session, camera_id, low, high))
    defects_q.delete_open_defects_of_detector(session, camera_id, RECORDING_GAP_DETECTOR, low, high)
    for span, culprit in detect_recording_gaps(coverage, state.interval, state.settings.gap_factor):
        _write_defect(
            session,
            report,
            camera_id=camera_id,
            recording_id=culprit,
            span=span,
            start=dt.datetime.fromtimestamp(span.start, dt.UTC),
            end=dt.datetime.fromtimestamp(span.end, dt.UTC),
        )


def list_defects(
    catalog: Catalog,
    camera: str | None = None,
    kind: str | None = None,
    state: str | None = None,
) -> list[dict[str, Any]]:
    """Defects in time order, as plain rows (for the `defects` command and the API)."""
    with catalog.session() as session:
        where = DefectFilter(camera_id=option_camera_id(session, camera), kind=kind, state=state)
        rows = []
        for defect, camera_name, path in defects_q.defects_with_places(session, where):
            rows.append(
                {
                    "id": defect.id,
                    "camera": camera_name,
                    "kind": defect.kind,
                    "start_time": defect.start_time,
                    "end_time": defect.end_time,
                    "seconds": round((defect.end_time - defect.start_time).total_seconds(), 3),
                    "frame_start": defect.frame_start,
                    "frame_end": defect.frame_end,
                    "state": defect.state,
                    # Why it is ignored or unrepairable (e.g. too still for repair_min_activity).
                    "state_reason": defect.state_reason,
                    # Around the span when queued, 0 still .. 1 busy; None: unknown or not yet
                    # queued (gapfill/jobs/activity.py).
                    "activity": defect.activity,
                    "detector": defect.detector,
                    "recording_id": defect.recording_id,
                    "path": path,
                    "figures": defect.figures,
                }
            )
        return rows
