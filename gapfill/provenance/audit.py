"""The auditor's question in one query: which frames of camera X between t1 and t2 are synthetic,
made by which model from which inputs with which parameters, and who approved them.

`audit_rows` answers from the catalog alone (the HTTP API reuses it): synthetic_spans joined
with their clip, camera, model and reviewer; the inputs come from the clip's `repair` provenance
event (the chain is the record of what the repair read), or from its sidecar when the event is
gone (verify reports that separately).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy.orm import Session

from gapfill.catalog.event_names import CLIP_SUBJECT, REPAIR_ACTION
from gapfill.catalog.models import SyntheticClip
from gapfill.catalog.queries.cameras import option_camera_id
from gapfill.catalog.queries.clips import audit_spans
from gapfill.catalog.queries.provenance import subject_events
from gapfill.errors import UserError
from gapfill.provenance.sidecar import read_sidecar

# Column order for tables and CSV.
AUDIT_COLUMNS = (
    "camera",
    "start_time",
    "end_time",
    "frame_start",
    "frame_end",
    "frames",
    "clip_id",
    "clip_path",
    "provenance_id",
    "model_name",
    "model_sha256",
    "model_change",
    "review_state",
    "reviewer",
    "reviewed_at",
    "seed",
    "parameters",
    "inputs",
    "span_id",
    "defect_id",
)


def audit_rows(
    session: Session,
    camera: str | None,
    start: dt.datetime | None,
    end: dt.datetime | None,
    problems: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Every synthetic frame range of `camera` (all cameras if None) overlapping [start, end),
    in time order. Frame ranges are indices within the clip file, end exclusive.

    `problems`, when given, gets a line for each sidecar needed for a clip's inputs (its repair
    event gone) that is missing or unusable; that clip's rows then list no inputs."""
    option_camera_id(session, camera)
    results = audit_spans(session, camera, start, end)

    provenance_ids = {clip.provenance_id for _span, clip, *_ in results}
    inputs_by_clip = _recorded_inputs(session, provenance_ids)
    rows = []
    for span, clip, camera_name, model, reviewer_name in results:
        inputs = inputs_by_clip.get(clip.provenance_id)
        if inputs is None:
            inputs = inputs_by_clip[clip.provenance_id] = _sidecar_inputs(clip, problems)
        rows.append(
            {
                "camera": camera_name,
                "start_time": span.start_time,
                "end_time": span.end_time,
                "frame_start": span.frame_start,
                "frame_end": span.frame_end,
                "frames": span.frame_end - span.frame_start,
                "clip_id": clip.id,
                "clip_path": clip.path,
                "provenance_id": clip.provenance_id,
                "model_name": model.name if model else None,
                "model_sha256": model.sha256 if model else None,
                # kept: the model's learned change is in the frames; dropped, no-check-context:
                # its classical first guess alone (gapfill.fill.fill_gap); None: not recorded.
                "model_change": (clip.parameters or {}).get("model_change"),
                "review_state": clip.review_state,
                "reviewer": reviewer_name,
                "reviewed_at": clip.reviewed_at,
                "seed": clip.seed,
                "parameters": clip.parameters,
                "inputs": inputs,
                "span_id": span.id,
                "defect_id": span.defect_id,
            }
        )
    return rows


def _recorded_inputs(session: Session, provenance_ids: set[str]) -> dict[str, list[dict]]:
    if not provenance_ids:
        return {}
    events = subject_events(session, REPAIR_ACTION, CLIP_SUBJECT, provenance_ids)
    found: dict[str, list[dict]] = {}
    for _seq, provenance_id, _created_at, payload in events:
        try:
            found.setdefault(provenance_id, json.loads(payload).get("inputs", []))
        except (json.JSONDecodeError, AttributeError):
            continue
    return found


def _sidecar_inputs(clip: SyntheticClip, problems: list[str] | None) -> list[dict]:
    try:
        return read_sidecar(Path(clip.path))["inputs"]
    except UserError as exc:
        if problems is not None:
            problems.append(f"{exc} (clip {clip.id} listed without its inputs)")
        return []


def csv_cell(value: Any) -> str:
    """How a row value is written in CSV: times ISO 8601, inputs as path=sha256 joined by ';',
    parameters as JSON."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, list):
        return ";".join(f"{i.get('path')}={i.get('sha256')}" for i in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def write_audit_csv(rows: list[dict[str, Any]], stream: TextIO) -> None:
    """The audit rows as CSV, one header line then a line per range (CLI and API alike)."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(AUDIT_COLUMNS)
    for row in rows:
        writer.writerow([csv_cell(row[c]) for c in AUDIT_COLUMNS])
