"""Repair one defect: plan its context, fill it with MALT, write the flagged clip, record it.

The order is what keeps a crash harmless and the catalog honest:
1. plan (read-only): the real frames before and after, at source resolution;
2. fill: MALT predicts the missing frames (gapfill.model.fill.fill_gap);
3. write the signed clip and its sidecar under their final names (atomic renames);
4. one transaction: synthetic_clips + synthetic_spans rows, the defect set to `repaired`, and the
   `repair` provenance event. If it fails, the files of step 3 are deleted again.
A worker killed between 3 and 4 leaves a clip no row points at; the next attempt writes a new
clip with a new provenance id, and `gapfill verify` reports the orphan by name, so nothing is
ever presented as catalogued that is not.

Originals are only ever opened for reading (plan.py decodes them).
"""

from __future__ import annotations

import datetime as dt
import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gapfill.catalog.db import Catalog
from gapfill.catalog.models import Camera, Defect, SyntheticClip, SyntheticSpan
from gapfill.config import Settings
from gapfill.provenance.c2pa_sign import C2paSigner
from gapfill.provenance.chain import append_event
from gapfill.provenance.facts import (
    CLIP_SUBJECT,
    REPAIR_ACTION,
    ClipProvenance,
    InputSegment,
    SyntheticRange,
    new_provenance_id,
    repair_event_payload,
)
from gapfill.provenance.sidecar import sidecar_path, write_sidecar
from gapfill.repair.models import model_for_camera
from gapfill.repair.output import WrittenClip, write_flagged_clip
from gapfill.repair.plan import RepairPlan, Unrepairable, plan_repair

log = logging.getLogger("gapfill.repair")

# Defect states a repair may start from; anything else was decided already.
REPAIRABLE_STATES = ("open", "queued")


@dataclass(frozen=True)
class RepairResult:
    """What became of one defect."""

    defect_id: int
    state: str  # repaired, unrepairable, skipped (already decided) or planned (dry run)
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
    parameters = _parameters(settings, plan)
    synthetic = _fill(plan, model_path, seed)
    provenance = _provenance(plan, model_name, model_sha, parameters, seed)
    clip_path = _clip_path(settings, plan, provenance.provenance_id)
    written = write_flagged_clip(
        clip_path,
        _clip_frames(plan, synthetic),
        plan.fps,
        provenance,
        signer=C2paSigner.from_settings(settings),
    )
    write_sidecar(written.path, provenance, written.sha256, written.size_bytes)
    try:
        clip_id = _record(catalog, plan, provenance, written, model_id, job_id, actor)
    except BaseException:
        # Nothing in the catalog points at these files: remove them rather than leave orphans.
        written.path.unlink(missing_ok=True)
        sidecar_path(written.path).unlink(missing_ok=True)
        raise
    log.info(
        "repaired",
        extra={"defect_id": defect_id, "clip_id": clip_id, "path": str(written.path)},
    )
    return RepairResult(
        defect_id,
        "repaired",
        clip_id=clip_id,
        clip_path=written.path,
        synthetic_frames=plan.n_missing,
        synthetic_seconds=plan.n_missing / plan.fps,
    )


def _parameters(settings: Settings, plan: RepairPlan) -> dict[str, Any]:
    """Everything besides the model and seed that decides the synthetic frames."""
    return {
        "backend": "torch",
        "context_seconds": settings.context_seconds,
        "context_frames_before": len(plan.before.frames),
        "context_frames_after": len(plan.after.frames),
        "n_missing": plan.n_missing,
        "fps": plan.fps,
    }


def _fill(plan: RepairPlan, model_path: str, seed: int) -> np.ndarray:
    from gapfill.model.fill import fill_gap

    before, after = plan.before.array(), plan.after.array()
    if not len(before):
        before = np.zeros((0, *after.shape[1:]), np.uint8)
    if not len(after):
        after = np.zeros((0, *before.shape[1:]), np.uint8)
    return fill_gap(before, after, plan.n_missing, plan.fps, model=Path(model_path), seed=seed)


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
    written: WrittenClip,
    model_id: int,
    job_id: int | None,
    actor: str,
) -> int:
    """The clip's rows, the defect's new state and the repair event, in one transaction."""
    with catalog.session() as session:
        defect = session.get(Defect, plan.defect_id)
        assert defect is not None
        if defect.state not in REPAIRABLE_STATES:
            # Another worker finished it first (a reclaimed lease): keep theirs, drop ours.
            raise RuntimeError(f"defect {plan.defect_id} became {defect.state} during the repair")
        clip = SyntheticClip(
            job_id=job_id,
            defect_id=plan.defect_id,
            camera_id=plan.camera_id,
            path=str(written.path),
            sha256=written.sha256,
            size_bytes=written.size_bytes,
            model_id=model_id,
            parameters=provenance.parameters,
            seed=provenance.seed,
            provenance_id=provenance.provenance_id,
            start_time=provenance.clip_start,
            end_time=provenance.clip_end,
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
                provenance, str(written.path), written.sha256, written.size_bytes
            ),
        )
        session.commit()
        return clip.id

