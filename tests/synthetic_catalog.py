"""Many synthetic clips in a catalog, fast: valid rows of the real ORM models (foreign keys, CHECK
constraints and unique keys all hold), written with bulk INSERTs. No files are made: list and
queue views never open them. Used by tests/test_review_queue.py and benchmarks/review_page.py."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from sqlalchemy import func, insert, select

from gapfill.catalog.db import Catalog
from gapfill.catalog.models import Camera, Defect, Model, SyntheticClip, SyntheticSpan, User

T0 = dt.datetime(2026, 1, 5, 7, 0, tzinfo=dt.UTC)
FPS = 10.0
CLIP_SECONDS = 6
# Rows per INSERT: large enough to be quick, small enough for SQLite's bound-variable limit.
_BATCH = 500


def camera_names(cameras: int) -> list[str]:
    return [f"cam-{k:02d}" for k in range(cameras)]


def fill_clips(catalog: Catalog, clips: int, cameras: int = 4) -> None:
    """Add `clips` clips spread round-robin over `cameras` cameras, each repairing its own
    defect with one or two synthetic spans. Three in four are pending review, the rest approved
    by one reviewer. Clips come in pairs with the same start time (on different cameras), so the
    list order needs its id tie-break."""
    with catalog.session() as session:
        camera_ids = []
        for name in camera_names(cameras):
            camera = Camera(name=name, nominal_fps=FPS)
            session.add(camera)
            session.flush()
            camera_ids.append(camera.id)
        model = Model(name="malt-bench", sha256="0" * 64, path="/srv/gapfill/models/bench")
        reviewer = User(name="bench-reviewer", role="engineer")
        session.add_all([model, reviewer])
        session.flush()
        # Explicit ids, so clips and spans can name their defect and clip without a round trip.
        first_defect = (session.scalar(select(func.max(Defect.id))) or 0) + 1
        first_clip = (session.scalar(select(func.max(SyntheticClip.id))) or 0) + 1
        defects: list[dict[str, Any]] = []
        rows: list[dict[str, Any]] = []
        spans: list[dict[str, Any]] = []
        for i in range(clips):
            camera_id = camera_ids[i % cameras]
            start = T0 + dt.timedelta(minutes=i // 2)
            end = start + dt.timedelta(seconds=CLIP_SECONDS)
            gap_start = start + dt.timedelta(seconds=2)
            gap_end = gap_start + dt.timedelta(seconds=1)
            defect_id, clip_id = first_defect + i, first_clip + i
            defects.append(
                {
                    "id": defect_id,
                    "camera_id": camera_id,
                    "kind": "missing",
                    "start_time": gap_start,
                    "end_time": gap_end,
                    "detector": "bench",
                    "figures": {},
                    "state": "repaired",
                }
            )
            approved = i % 4 == 3
            rows.append(
                {
                    "id": clip_id,
                    "defect_id": defect_id,
                    "camera_id": camera_id,
                    "path": f"/srv/gapfill/out/bench/{clip_id:07d}.mp4",
                    "sha256": hashlib.sha256(str(clip_id).encode()).hexdigest(),
                    "size_bytes": 250_000,
                    "model_id": model.id,
                    "parameters": {"backend": "bench", "steps": 8},
                    "seed": i,
                    "provenance_id": f"bench-{clip_id:08d}",
                    "start_time": start,
                    "end_time": end,
                    "review_state": "approved" if approved else "pending",
                    "reviewed_by": reviewer.id if approved else None,
                    "reviewed_at": end + dt.timedelta(hours=1) if approved else None,
                }
            )
            spans.append(
                {
                    "clip_id": clip_id,
                    "camera_id": camera_id,
                    "defect_id": defect_id,
                    "frame_start": 20,
                    "frame_end": 30,
                    "start_time": gap_start,
                    "end_time": gap_end,
                }
            )
            if i % 3 == 0:  # some clips have a second, shorter span
                spans.append({**spans[-1], "frame_start": 40, "frame_end": 44})
                spans[-1]["start_time"] = start + dt.timedelta(seconds=4)
                spans[-1]["end_time"] = start + dt.timedelta(seconds=4.4)
        for model_class, values in (
            (Defect, defects),
            (SyntheticClip, rows),
            (SyntheticSpan, spans),
        ):
            for at in range(0, len(values), _BATCH):
                session.execute(insert(model_class), values[at : at + _BATCH])
