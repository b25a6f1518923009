"""Repair one defect: plan its context, fill it with MALT, write the flagged clip, record it.

The order is what keeps a crash harmless and the catalog honest:
1. plan (read-only): the real frames before and after, at source resolution; the originals'
   sha256 are checked against the catalog before they are used and again after the clip is
   written, so a fill is never made from footage that changed since ingest;
2. fill: MALT predicts the missing frames (gapfill.fill.fill_gap.fill_gap);
3. write the signed clip under a hidden pending name `.<clip>.pending.part` (atomic, fsynced);
4. one transaction: synthetic_clips + synthetic_spans rows (naming the final path), the defect
   set to `repaired`, and the `repair` provenance event;
5. rename the pending file to its final name, fsync the directory, write the sidecar.
A crash before 4 leaves only a hidden pending file (deleted as stale later) and the defect still
open: the next run redoes it. A crash after 4 leaves a recorded clip whose last step is unfinished:
`finish_interrupted` (run before every batch of repairs) renames the pending file, after checking
its sha256 against the row, and rewrites the sidecar from the repair event. So a file under a
final name is always a complete, recorded clip, and each defect is repaired exactly once.

Originals are only ever opened for reading.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gapfill.catalog.db import Catalog
from gapfill.catalog.event_names import CLIP_SUBJECT, REPAIR_ACTION
from gapfill.catalog.models import (
    Camera,
    Defect,
    SyntheticClip,
    SyntheticSpan,
)
from gapfill.catalog.queries.clips import clip_files
from gapfill.catalog.queries.provenance import first_payload
from gapfill.checkpoint_registry import model_for_camera
from gapfill.config import Settings
from gapfill.errors import UserError
from gapfill.fill.fill_gap import FilledHole, fill_hole, resolve_backend
from gapfill.media.encode import fsync_directory
from gapfill.media.probe import sha256_file
from gapfill.provenance.c2pa_sign import C2paSigner
from gapfill.provenance.chain import append_event
from gapfill.provenance.facts import (
    ClipProvenance,
    ComputeSeconds,
    InputSegment,
    SyntheticRange,
    new_provenance_id,
    repair_event_payload,
)
from gapfill.provenance.sidecar import sidecar_path, write_sidecar
from gapfill.repair.output import WrittenClip, write_flagged_clip
from gapfill.repair.plan import RepairPlan, Unrepairable, plan_repair
from gapfill.runtime import NamedBackend

log = logging.getLogger("gapfill.repair")

# Defect states a repair may start from; anything else was decided already.
REPAIRABLE_STATES = ("open", "queued")


@dataclass(frozen=True)
class RepairResult:
    """What became of one defect."""

    defect_id: int
    # repaired, unrepairable, skipped (already decided), planned (dry run), failed (see reason)
    state: str
    reason: str | None = None
    clip_id: int | None = None
    clip_path: Path | None = None
    synthetic_frames: int = 0
    synthetic_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "defect_id": self.defect_id,
            "state": self.state,
            "reason": self.reason,
            "clip_id": self.clip_id,
            "clip_path": str(self.clip_path) if self.clip_path else None,
            "synthetic_frames": self.synthetic_frames,
            "synthetic_seconds": round(self.synthetic_seconds, 3),
        }


def default_actor() -> str:
    return f"system:{socket.gethostname()}"


def repair_defect(
    catalog: Catalog,
    settings: Settings,
    defect_id: int,
    *,
    job_id: int | None = None,
    actor: str | None = None,
    dry_run: bool = False,
) -> RepairResult:
    """Repair defect `defect_id` (see the module docstring for the order of the steps).

    Raises on an internal failure (the job queue retries it); a defect that cannot be repaired
    is not an error: it is recorded as `unrepairable` with the reason and returned.
    """
    started = time.perf_counter()  # the clip's repair_seconds count from here
    actor = actor or default_actor()
    with catalog.session() as session:
        defect = session.get(Defect, defect_id)
        if defect is None:
            return RepairResult(defect_id, "skipped", reason="no such defect")
        if defect.state not in REPAIRABLE_STATES:
            return RepairResult(defect_id, "skipped", reason=f"defect is {defect.state}")
        camera = session.get(Camera, defect.camera_id)
        assert camera is not None
        try:
            plan = plan_repair(session, settings, defect)
        except Unrepairable as exc:
            if not dry_run:
                defect.state, defect.state_reason = "unrepairable", str(exc)
                session.commit()
            log.info("unrepairable", extra={"defect_id": defect_id, "reason": str(exc)})
            return RepairResult(defect_id, "unrepairable", reason=str(exc))
        model = model_for_camera(session, settings, camera, actor)
        if dry_run:
            session.rollback()  # registering the model is a write: a dry run leaves no trace
            return RepairResult(
                defect_id,
                "planned",
                reason=f"{len(plan.before.frames)} real frames before, "
                f"{len(plan.after.frames)} after",
                synthetic_frames=plan.n_missing,
                synthetic_seconds=plan.n_missing / plan.fps,
            )
        session.commit()  # the model row and its event stand on their own
        model_id, model_name, model_path, model_sha = model.id, model.name, model.path, model.sha256

    seed = defect_id  # deterministic: the same defect and model give the same frames
    check_originals(plan.inputs)
    engine = resolve_backend(Path(model_path), settings.backend, settings.device)
    filled, fill_seconds = _fill(plan, engine, seed)
    synthetic = filled.frames
    # Whether the model's change is in the frames decides them as much as the backend does.
    parameters = {**_parameters(settings, plan, engine), **filled.facts()}
    provenance = _provenance(plan, model_name, model_sha, parameters, seed)
    final = _clip_path(settings, plan, provenance.provenance_id)
    pending = pending_path(final)
    try:
        written = write_flagged_clip(
            pending,
            _clip_frames(plan, synthetic),
            plan.fps,
            provenance,
            signer=C2paSigner.from_settings(settings),
        )
    except OSError as exc:
        raise UserError(f"{final.parent}: cannot write the clip: {exc.strerror or exc}") from None
    try:
        check_originals(plan.inputs)
        clip_id = _record(
            catalog,
            plan,
            provenance,
            final,
            written,
            model_id,
            job_id,
            actor,
            fill_seconds=fill_seconds,
            started=started,
        )
    except BaseException:
        pending.unlink(missing_ok=True)  # nothing points at it: the defect is still open
        raise
    publish(pending, final, provenance, written.sha256, written.size_bytes)
    log.info("repaired", extra={"defect_id": defect_id, "clip_id": clip_id, "path": str(final)})
    return RepairResult(
        defect_id,
        "repaired",
        clip_id=clip_id,
        clip_path=final,
        synthetic_frames=plan.n_missing,
        synthetic_seconds=plan.n_missing / plan.fps,
    )


def pending_path(final: Path) -> Path:
    """The hidden name a clip waits under until its rows are committed (`.*.part`: stale ones
    are removed by gapfill.repair.output.remove_stale_parts)."""
    return final.with_name(f".{final.name}.pending.part")


def publish(
    pending: Path, final: Path, provenance: ClipProvenance, sha256: str, size_bytes: int
) -> None:
    """Give a recorded clip its final name, then its sidecar (steps 5 of the module docstring)."""
    os.replace(pending, final)
    fsync_directory(final.parent)
    write_sidecar(final, provenance, sha256, size_bytes)


def check_originals(inputs: dict[int, tuple[str, str]]) -> None:
    """Refuse to go on when an original no longer hashes to what ingest recorded."""
    for recording_id, (path, recorded) in sorted(inputs.items()):
        try:
            current = sha256_file(Path(path))
        except OSError as exc:
            raise UserError(f"{path}: cannot read original: {exc.strerror or exc}") from None
        if current != recorded:
            raise UserError(
                f"{path}: original changed since ingest (recording {recording_id}: sha256 now "
                f"{current[:16]}..., catalog {recorded[:16]}...); not repairing from it"
            )


def finish_interrupted(catalog: Catalog, recorded_before: dt.datetime | None = None) -> list[Path]:
    """Finish clips whose rows were committed but whose rename or sidecar a crash cut off.

    `recorded_before`: only clips recorded before then. A worker renames its clip milliseconds
    after committing it, so while other workers run, a clip recorded a moment ago is most likely
    being published by its own worker, not interrupted (gapfill/jobs/recovery.py)."""
    finished = []
    with catalog.session() as session:
        clips = clip_files(session, recorded_before)
        for path_text, sha256, size_bytes, provenance_id in clips:
            final = Path(path_text)
            pending = pending_path(final)
            if final.exists() and sidecar_path(final).exists():
                continue
            if not final.exists():
                try:
                    if sha256_file(pending) != sha256:
                        continue  # altered: `gapfill verify` reports it
                    os.replace(pending, final)
                except FileNotFoundError:
                    # Truly missing (`gapfill verify` reports it), or another process finished
                    # it while this one was hashing: either way nothing is left to do here.
                    continue
                fsync_directory(final.parent)
            payload = first_payload(session, REPAIR_ACTION, provenance_id)
            if payload is not None:
                provenance = ClipProvenance.from_json(json.loads(payload))
                write_sidecar(final, provenance, sha256, size_bytes)
            finished.append(final)
            log.warning("finished an interrupted repair", extra={"path": str(final)})
    return finished


def _parameters(settings: Settings, plan: RepairPlan, engine: NamedBackend) -> dict[str, Any]:
    """Everything besides the model and seed that decides the synthetic frames."""
    return {
        "backend": engine.name,
        "provider": engine.provider,
        "sample_steps": engine.config.sample_steps,
        "change_tau": engine.config.change_tau,
        "context_seconds": settings.context_seconds,
        "context_frames_before": len(plan.before.frames),
        "context_frames_after": len(plan.after.frames),
        "n_missing": plan.n_missing,
        "fps": plan.fps,
    }


def _fill(plan: RepairPlan, engine: NamedBackend, seed: int) -> tuple[FilledHole, float]:
    """The synthetic frames with what made them, and the wall seconds the model took (the clip's
    fill_seconds: the context was read by plan_repair, and the file is written later)."""
    before, after = plan.before.array(), plan.after.array()
    if not len(before):
        before = np.zeros((0, *after.shape[1:]), np.uint8)
    if not len(after):
        after = np.zeros((0, *before.shape[1:]), np.uint8)
    started = time.perf_counter()
    filled = fill_hole(before, after, plan.n_missing, plan.fps, model=engine, seed=seed)
    return filled, time.perf_counter() - started


def _provenance(
    plan: RepairPlan, model_name: str, model_sha: str, parameters: dict[str, Any], seed: int
) -> ClipProvenance:
    step = dt.timedelta(seconds=1.0 / plan.fps)
    n_before = len(plan.before.frames)
    clip_start = plan.before.times[0] if n_before else plan.span_start
    clip_end = plan.after.times[-1] + step if plan.after.frames else plan.span_end
    span = SyntheticRange(n_before, n_before + plan.n_missing, plan.span_start, plan.span_end)
    inputs = tuple(
        InputSegment(path, sha256, recording_id)
        for recording_id, (path, sha256) in sorted(plan.inputs.items())
    )
    return ClipProvenance(
        provenance_id=new_provenance_id(),
        camera=plan.camera,
        clip_start=clip_start,
        clip_end=clip_end,
        synthetic_ranges=(span,),
        model_name=model_name,
        model_sha256=model_sha,
        inputs=inputs,
        parameters=parameters,
        seed=seed,
        defect_ids=(plan.defect_id,),
    )


def _clip_path(settings: Settings, plan: RepairPlan, provenance_id: str) -> Path:
    folder = settings.effective_output_dir / plan.camera
    folder.mkdir(parents=True, exist_ok=True)
    stamp = plan.span_start.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return folder / f"{plan.camera}-{stamp}-{provenance_id[:8]}.mp4"


def _clip_frames(plan: RepairPlan, synthetic: np.ndarray) -> Iterator[np.ndarray]:
    yield from plan.before.frames
    yield from synthetic
    yield from plan.after.frames


def _record(
    catalog: Catalog,
    plan: RepairPlan,
    provenance: ClipProvenance,
    final: Path,
    written: WrittenClip,
    model_id: int,
    job_id: int | None,
    actor: str,
    *,
    fill_seconds: float,
    started: float,
) -> int:
    """The clip's rows, the defect's new state and the repair event, in one transaction.

    `started` is the time.perf_counter() reading at which the repair began: repair_seconds runs
    from it to here, just before the rows are written (a value cannot include the commit that
    stores it; the commit, rename and sidecar take milliseconds)."""
    with catalog.session() as session:
        defect = session.get(Defect, plan.defect_id)
        assert defect is not None
        if defect.state not in REPAIRABLE_STATES:
            # Another worker finished it first (a reclaimed lease): keep theirs, drop ours.
            raise RuntimeError(f"defect {plan.defect_id} became {defect.state} during the repair")
        # Rounded to microseconds, far below what matters; rounding keeps repair >= fill.
        compute = ComputeSeconds(
            fill_seconds=round(fill_seconds, 6),
            repair_seconds=round(time.perf_counter() - started, 6),
        )
        clip = SyntheticClip(
            job_id=job_id,
            defect_id=plan.defect_id,
            camera_id=plan.camera_id,
            path=str(final),
            sha256=written.sha256,
            size_bytes=written.size_bytes,
            model_id=model_id,
            parameters=provenance.parameters,
            seed=provenance.seed,
            provenance_id=provenance.provenance_id,
            start_time=provenance.clip_start,
            end_time=provenance.clip_end,
            fill_seconds=compute.fill_seconds,
            repair_seconds=compute.repair_seconds,
        )
        session.add(clip)
        session.flush()
        for span in provenance.synthetic_ranges:
            session.add(
                SyntheticSpan(
                    clip_id=clip.id,
                    camera_id=plan.camera_id,
                    defect_id=plan.defect_id,
                    frame_start=span.frame_start,
                    frame_end=span.frame_end,
                    start_time=span.start_time,
                    end_time=span.end_time,
                )
            )
        defect.state, defect.state_reason = "repaired", None
        append_event(
            session,
            REPAIR_ACTION,
            actor,
            CLIP_SUBJECT,
            provenance.provenance_id,
            repair_event_payload(
                provenance, str(final), written.sha256, written.size_bytes, compute
            ),
        )
        session.commit()
        return clip.id
