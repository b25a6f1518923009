"""`gapfill verify`: prove that no clip, original, model or provenance record changed.

For each synthetic clip checked (one file, or all of them):
- the file exists and its sha256 still equals synthetic_clips.sha256;
- its C2PA manifest reads back Trusted with the site CA, and names the clip's provenance id and
  synthetic ranges; the MP4 metadata names the same provenance id;
- its sidecar exists and agrees with the catalog (id, output sha256, ranges, model, inputs);
- the `repair` provenance event recording it exists and agrees with the catalog rows
  (synthetic_clips, its compute timings included, synthetic_spans, models, recordings);
- every input original still hashes to recordings.sha256 and to what the repair recorded;
- the model file(s) still hash to models.sha256 and to what the repair recorded.
Then the whole provenance chain is walked (edited rows, deleted rows, broken links), and every
`repair` event whose clip row is gone is reported.

Every mismatch is one `Problem`: the thing that changed and what about it, e.g.
`/data/synthetic/x.mp4: file changed since it was written (sha256 now 1f2e..., catalog 9a0b...)`.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from gapfill.catalog.db import Catalog
from gapfill.catalog.event_names import CLIP_SUBJECT, EXPIRE_ACTION, REPAIR_ACTION
from gapfill.catalog.models import Model, SyntheticClip
from gapfill.catalog.queries import clips as clips_q
from gapfill.catalog.queries import provenance as chain_q
from gapfill.catalog.queries.recordings import recording_by_path
from gapfill.config import Settings
from gapfill.errors import UserError
from gapfill.media.probe import read_metadata, sha256_file
from gapfill.provenance.chain import walk_chain
from gapfill.provenance.facts import METADATA_PREFIX, iso
from gapfill.provenance.keys import site_keys
from gapfill.provenance.sidecar import read_sidecar, sidecar_path


@dataclass(frozen=True)
class Problem:
    """One thing that is not as recorded: `subject` names it, `message` says what changed."""

    subject: str
    message: str

    def line(self) -> str:
        return f"{self.subject}: {self.message}"


@dataclass
class VerifyReport:
    clips_checked: int = 0
    # Clips whose files retention deleted, as their `expire` event says: not a problem.
    clips_expired: int = 0
    recordings_checked: int = 0
    models_checked: int = 0
    chain_events_checked: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, subject: object, message: str) -> None:
        self.problems.append(Problem(str(subject), message))

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "clips_checked": self.clips_checked,
            "clips_expired": self.clips_expired,
            "recordings_checked": self.recordings_checked,
            "models_checked": self.models_checked,
            "chain_events_checked": self.chain_events_checked,
            "problems": [{"subject": p.subject, "message": p.message} for p in self.problems],
        }


def verify(
    catalog: Catalog, settings: Settings, path: str | Path | None = None, all_clips: bool = True
) -> VerifyReport:
    """Check one clip file (`path`) or every clip (`all_clips`), and the provenance chain."""
    if path is None and not all_clips:
        raise UserError("verify: give a clip PATH or --all")
    report = VerifyReport()
    checker = _Checker(report, settings)
    with catalog.session() as session:
        if path is not None:
            clips = _clips_for_path(session, Path(path).absolute(), report)
        else:
            clips = clips_q.all_clips(session)
        for clip in clips:
            checker.check_clip(session, clip)
        if path is None:
            _orphan_repair_events(session, report)
    with catalog.session() as session:
        for problem in walk_chain(session):
            report.add("provenance chain", f"event {problem.seq}: {problem.problem}")
        report.chain_events_checked = chain_q.last_seq(session)
    return report


def _clips_for_path(session: Session, path: Path, report: VerifyReport) -> list[SyntheticClip]:
    # The catalog holds the path the repair wrote; an operator may name the same file with `..`
    # or through a symlink, and a deleted clip must still be found by either spelling.
    spellings = {str(path), str(path.resolve())}
    clip = clips_q.first_clip_at(session, spellings)
    if clip is not None:
        return [clip]
    if not path.exists():
        raise UserError(f"{path}: no such file, and no synthetic clip with this path")
    # A file without a row: its row was deleted, or it is not a gapfill clip. Its own
    # metadata says which.
    try:
        provenance_id = read_metadata(path).get(f"{METADATA_PREFIX}provenance_id")
    except Exception as exc:  # PyAV raises many kinds; any of them means "not our clip"
        raise UserError(f"{path}: not a readable gapfill clip: {exc}") from None
    if provenance_id is None:
        raise UserError(f"{path}: not a gapfill clip (no provenance id in its metadata)")
    clip = clips_q.clip_by_provenance_id(session, provenance_id)
    if clip is None:
        report.add(path, f"no synthetic_clips row for provenance {provenance_id} (row deleted?)")
        return []
    if not _same_file(path, clip.path):
        report.add(path, f"provenance {provenance_id} is catalogued at another path: {clip.path}")
    return [clip]


def _same_file(path: Path, other: str) -> bool:
    """Whether two paths name one file (the catalogued path may run through a symlink)."""
    try:
        return os.path.samefile(path, other)
    except OSError:
        return False


def _orphan_repair_events(session: Session, report: VerifyReport) -> None:
    known = clips_q.clip_provenance_ids(session)
    events = chain_q.subject_events(session, REPAIR_ACTION, CLIP_SUBJECT)
    for seq, provenance_id, _created_at, payload in events:
        if provenance_id not in known:
            output = _json(payload).get("output", {}).get("path", "?")
            report.add(
                f"synthetic clip {output}",
                f"synthetic_clips row for provenance {provenance_id} deleted "
                f"(recorded by provenance event {seq})",
            )


class _Checker:
    """Checks clips one by one; originals and models shared by many clips are hashed once."""

    def __init__(self, report: VerifyReport, settings: Settings) -> None:
        self.report = report
        self.keys = site_keys(settings)
        self._hashes: dict[Path, str | None] = {}
        self._checked_recordings: set[int] = set()
        self._checked_models: set[int] = set()

    def check_clip(self, session: Session, clip: SyntheticClip) -> None:
        self.report.clips_checked += 1
        path = Path(clip.path)
        event = self._repair_event(session, clip)
        spans = sorted(
            (s.frame_start, s.frame_end, iso(s.start_time), iso(s.end_time)) for s in clip.spans
        )
        if event is not None:
            self._compare_event(clip, spans, event)
        file_sha = self._hash(path)
        expired = file_sha is None and self._expired(session, clip)
        if expired:
            self.report.clips_expired += 1
        elif file_sha is None:
            self.report.add(path, f"file missing (synthetic clip {clip.id}, {clip.provenance_id})")
        else:
            if file_sha != clip.sha256:
                self.report.add(
                    path,
                    f"file changed since it was written (sha256 now {file_sha[:16]}..., "
                    f"catalog {clip.sha256[:16]}...)",
                )
            self._check_manifest(clip, spans)
            self._check_metadata(clip)
        if not expired:
            self._check_sidecar(clip, spans, event)
        model = session.get(Model, clip.model_id) if clip.model_id is not None else None
        if model is None:
            self.report.add(path, "no models row for the model that made this clip")
        else:
            self._check_model(model, event)
        inputs = (event or {}).get("inputs")
        if inputs is None:
            inputs = self._sidecar_or_none(clip).get("inputs", [])
        for item in inputs:
            self._check_input(session, item)

    # --- the record of the repair -------------------------------------------------------

    @staticmethod
    def _expired(session: Session, clip: SyntheticClip) -> bool:
        """An `expire` event says retention deleted this clip's file (and sidecar) on purpose."""
        return chain_q.has_event(session, EXPIRE_ACTION, CLIP_SUBJECT, clip.provenance_id)

    def _repair_event(self, session: Session, clip: SyntheticClip) -> dict[str, Any] | None:
        payload = chain_q.first_payload(session, REPAIR_ACTION, clip.provenance_id, CLIP_SUBJECT)
        if payload is None:
            self.report.add(
                clip.path,
                f"no repair provenance event for provenance {clip.provenance_id} (event deleted?)",
            )
            return None
        return _json(payload)

    def _compare_event(
        self, clip: SyntheticClip, spans: list[tuple[Any, ...]], event: dict[str, Any]
    ) -> None:
        where = f"synthetic_clips row {clip.id}"
        output = event.get("output", {})
        if output.get("sha256") != clip.sha256:
            self.report.add(
                where,
                f"sha256 {clip.sha256[:16]}... differs from the provenance record "
                f"{str(output.get('sha256'))[:16]}... (row edited)",
            )
        if output.get("path") not in (None, clip.path):
            self.report.add(where, f"path differs from the provenance record {output['path']}")
        if _ranges(event.get("synthetic_ranges", [])) != spans:
            self.report.add(
                f"synthetic_spans of clip {clip.id}",
                f"frame ranges {spans} differ from the provenance record "
                f"{_ranges(event.get('synthetic_ranges', []))} (rows edited or deleted)",
            )
        if event.get("parameters") != clip.parameters or event.get("seed") != clip.seed:
            self.report.add(where, "parameters or seed differ from the provenance record")
        # Clips made before migration 0003 have neither an event `compute` nor row timings.
        recorded = event.get("compute")
        recorded = recorded if isinstance(recorded, dict) else {}
        stored = {"fill_seconds": clip.fill_seconds, "repair_seconds": clip.repair_seconds}
        if any(not _same_seconds(recorded.get(k), v) for k, v in stored.items()):
            self.report.add(
                where,
                f"compute timings {stored} differ from the provenance record "
                f"{recorded or 'none'} (row edited)",
            )

    # --- the clip file itself -------------------------------------------------------------

    def _check_manifest(self, clip: SyntheticClip, spans: list[tuple[Any, ...]]) -> None:
        from gapfill.provenance.c2pa_sign import read_manifest

        try:
            trust = self.keys.read_ca_cert()
        except UserError as exc:
            self.report.add(clip.path, f"cannot check the C2PA manifest: {exc}")
            return
        reading = read_manifest(clip.path, trust)
        if not reading.trusted:
            detail = "; ".join(reading.failures) or "no detail"
            self.report.add(clip.path, f"C2PA manifest {reading.state}: {detail}")
        facts = reading.synthetic
        if reading.state == "Missing":
            return
        if facts is None:
            self.report.add(clip.path, "C2PA manifest lacks the com.gapfill.synthetic assertion")
            return
        if facts.get("provenance_id") != clip.provenance_id:
            self.report.add(
                clip.path,
                f"C2PA manifest names provenance {facts.get('provenance_id')}, catalog row "
                f"says {clip.provenance_id}",
            )
        if _ranges(facts.get("synthetic_ranges", [])) != spans:
            self.report.add(clip.path, "C2PA manifest's synthetic ranges differ from the catalog")

    def _check_metadata(self, clip: SyntheticClip) -> None:
        try:
            tagged = read_metadata(clip.path).get(f"{METADATA_PREFIX}provenance_id")
        except Exception as exc:  # a file PyAV cannot open at all
            self.report.add(clip.path, f"unreadable as MP4: {exc}")
            return
        if tagged != clip.provenance_id:
            self.report.add(
                clip.path, f"MP4 metadata names provenance {tagged}, catalog {clip.provenance_id}"
            )

    def _sidecar_or_none(self, clip: SyntheticClip) -> dict[str, Any]:
        try:
            return read_sidecar(clip.path)
        except UserError:
            return {}

    def _check_sidecar(
        self, clip: SyntheticClip, spans: list[tuple[Any, ...]], event: dict[str, Any] | None
    ) -> None:
        where = sidecar_path(clip.path)
        try:
            sidecar = read_sidecar(clip.path)
        except UserError as exc:
            self.report.add(where, str(exc).split(": ", 1)[-1])
            return
        if sidecar.get("provenance_id") != clip.provenance_id:
            self.report.add(
                where,
                f"names provenance {sidecar.get('provenance_id')}, catalog {clip.provenance_id}",
            )
        if sidecar.get("output", {}).get("sha256") != clip.sha256:
            self.report.add(where, "output sha256 differs from the catalog")
        if _ranges(sidecar.get("synthetic_ranges", [])) != spans:
            self.report.add(where, "synthetic ranges differ from the catalog")
        if event is not None:
            for key in ("model", "inputs", "parameters", "seed"):
                if sidecar.get(key) != event.get(key):
                    self.report.add(where, f"{key} differ from the provenance record")

    # --- what the clip was made from --------------------------------------------------------

    def _check_model(self, model: Model, event: dict[str, Any] | None) -> None:
        recorded = (event or {}).get("model", {}).get("sha256")
        if recorded is not None and recorded != model.sha256:
            self.report.add(
                f"models row {model.id} ({model.name})",
                f"sha256 {model.sha256[:16]}... differs from the provenance record "
                f"{recorded[:16]}... (row edited)",
            )
        if model.id in self._checked_models:
            return
        self._checked_models.add(model.id)
        self.report.models_checked += 1
        path = Path(model.path)
        current = self._hash(path)
        if current is None:
            self.report.add(f"model {model.name} ({path})", "model file missing")
        elif current != model.sha256:
            self.report.add(
                f"model {model.name} ({path})",
                f"model file replaced or changed (sha256 now {current[:16]}..., "
                f"catalog {model.sha256[:16]}...)",
            )

    def _check_input(self, session: Session, item: dict[str, Any]) -> None:
        path = Path(item.get("path", ""))
        recording = recording_by_path(session, str(path))
        if recording is None:
            self.report.add(f"original {path}", "recordings row missing (deleted?)")
            return
        where = f"original {path} (recording {recording.id})"
        if item.get("sha256") != recording.sha256:
            self.report.add(
                f"recordings row {recording.id}",
                f"sha256 {recording.sha256[:16]}... differs from what the repair read "
                f"{str(item.get('sha256'))[:16]}... (row edited)",
            )
        if recording.id in self._checked_recordings:
            return
        self._checked_recordings.add(recording.id)
        self.report.recordings_checked += 1
        current = self._hash(path)
        if current is None:
            self.report.add(where, "original file missing")
        elif current != recording.sha256:
            self.report.add(
                where,
                f"original edited since ingest (sha256 now {current[:16]}..., "
                f"catalog {recording.sha256[:16]}...)",
            )

    def _hash(self, path: Path) -> str | None:
        """sha256 of a file, or of a MALT checkpoint folder; None when it is gone."""
        if path not in self._hashes:
            try:
                if path.is_dir():
                    from gapfill.network.checkpoint import checkpoint_sha256

                    self._hashes[path] = checkpoint_sha256(path)
                else:
                    self._hashes[path] = sha256_file(path)
            except FileNotFoundError:
                self._hashes[path] = None
            except OSError as exc:
                raise UserError(f"{path}: cannot read: {exc.strerror}") from None
        return self._hashes[path]


def _ranges(items: Iterable[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted(
        (int(r["frame_start"]), int(r["frame_end"]), r["start_time"], r["end_time"]) for r in items
    )


def _same_seconds(recorded: object, stored: float | None) -> bool:
    """A timing in the event's JSON against the row's float column: equal, or both absent."""
    if recorded is None or stored is None:
        return recorded is None and stored is None
    return isinstance(recorded, int | float) and math.isclose(recorded, stored, rel_tol=1e-9)


def _json(payload: str) -> dict[str, Any]:
    try:
        value = json.loads(payload)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
