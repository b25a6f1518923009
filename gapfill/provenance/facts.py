"""The facts that travel with a synthetic clip: one record, written four times.

`ClipProvenance` holds what is known about a clip before its file exists (which frames are
synthetic, which model and inputs made them, with which parameters). The same facts go into

- the container metadata and timed-text track of the MP4 (gapfill/repair/output.py),
- the C2PA manifest's `com.gapfill.synthetic` assertion (c2pa_sign.py),
- the sidecar `<clip>.provenance.json` (sidecar.py), with the final file's sha256 added,
- the payload of the `repair` provenance event (`repair_event_payload`), which verify.py and
  audit.py read back,

so every copy can be checked against the others. Frame ranges are 0-based indices within the clip
file, end exclusive; times are timezone-aware UTC.

The event also records what the repair cost (`ComputeSeconds`), as the clip row does, so that
`gapfill verify` notices an edited timing like any other edited row. The other copies leave it
out: it is known only once the file is written, and says nothing about which frames are synthetic.
Events written before migration 0003 lack it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

# The container tags a clip carries are named with this prefix (gapfill/repair/output.py).
METADATA_PREFIX = "com.gapfill."

DIGITAL_SOURCE_TYPE = (
    "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
)


def new_provenance_id() -> str:
    """A fresh id linking a clip file to its catalog rows (32 hex digits)."""
    return uuid.uuid4().hex


def iso(value: dt.datetime) -> str:
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: provenance times must be timezone-aware")
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_iso(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(dt.UTC)


@dataclass(frozen=True)
class SyntheticRange:
    """Synthetic frames [frame_start, frame_end) of a clip and the wall-clock span they show."""

    frame_start: int
    frame_end: int
    start_time: dt.datetime
    end_time: dt.datetime

    @property
    def frame_count(self) -> int:
        return self.frame_end - self.frame_start

    def describe(self) -> str:
        """People count frames inclusively: frames 40-71 are 32 frames."""
        return f"frames {self.frame_start}-{self.frame_end - 1}"

    def to_json(self) -> dict[str, Any]:
        return {
            "frame_start": self.frame_start,
            "frame_end": self.frame_end,
            "start_time": iso(self.start_time),
            "end_time": iso(self.end_time),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SyntheticRange:
        return cls(
            int(data["frame_start"]),
            int(data["frame_end"]),
            parse_iso(data["start_time"]),
            parse_iso(data["end_time"]),
        )


def ranges_at(
    frame_ranges: list[tuple[int, int]] | tuple[tuple[int, int], ...],
    clip_start: dt.datetime,
    fps: float,
) -> tuple[SyntheticRange, ...]:
    """SyntheticRanges for (start, end) frame ranges of a clip whose frame 0 is shown at
    clip_start and whose frames follow at a regular `fps` cadence."""
    return tuple(
        SyntheticRange(
            start,
            end,
            clip_start + dt.timedelta(seconds=start / fps),
            clip_start + dt.timedelta(seconds=end / fps),
        )
        for start, end in frame_ranges
    )


@dataclass(frozen=True)
class InputSegment:
    """An original recording the repair read (context frames), identified by its bytes."""

    path: str
    sha256: str
    recording_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "recording_id": self.recording_id}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InputSegment:
        return cls(str(data["path"]), str(data["sha256"]), data.get("recording_id"))


@dataclass(frozen=True)
class ClipProvenance:
    """Everything an auditor needs to know about one synthetic clip, except its own hash."""

    provenance_id: str
    camera: str
    # Wall-clock span of the whole clip (context included): frame 0 is shown at clip_start.
    clip_start: dt.datetime
    clip_end: dt.datetime
    synthetic_ranges: tuple[SyntheticRange, ...]
    model_name: str
    model_sha256: str
    inputs: tuple[InputSegment, ...]
    parameters: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    defect_ids: tuple[int, ...] = ()
    created_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def to_json(self) -> dict[str, Any]:
        return {
            "provenance_id": self.provenance_id,
            "camera": self.camera,
            "clip_start": iso(self.clip_start),
            "clip_end": iso(self.clip_end),
            "synthetic_ranges": [r.to_json() for r in self.synthetic_ranges],
            "model": {"name": self.model_name, "sha256": self.model_sha256},
            "inputs": [i.to_json() for i in self.inputs],
            "parameters": self.parameters,
            "seed": self.seed,
            "defect_ids": list(self.defect_ids),
            "created_at": iso(self.created_at),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClipProvenance:
        return cls(
            provenance_id=str(data["provenance_id"]),
            camera=str(data["camera"]),
            clip_start=parse_iso(data["clip_start"]),
            clip_end=parse_iso(data["clip_end"]),
            synthetic_ranges=tuple(SyntheticRange.from_json(r) for r in data["synthetic_ranges"]),
            model_name=str(data["model"]["name"]),
            model_sha256=str(data["model"]["sha256"]),
            inputs=tuple(InputSegment.from_json(i) for i in data["inputs"]),
            parameters=dict(data.get("parameters") or {}),
            seed=int(data.get("seed", 0)),
            defect_ids=tuple(int(d) for d in data.get("defect_ids", ())),
            created_at=parse_iso(data["created_at"]),
        )


@dataclass(frozen=True)
class ComputeSeconds:
    """What a repair cost, in wall seconds (synthetic_clips.fill_seconds and .repair_seconds):
    the model generating the frames, and the whole repair of the defect."""

    fill_seconds: float
    repair_seconds: float

    def to_json(self) -> dict[str, float]:
        return {"fill_seconds": self.fill_seconds, "repair_seconds": self.repair_seconds}


def repair_event_payload(
    provenance: ClipProvenance,
    output_path: str,
    output_sha256: str,
    output_size: int,
    compute: ComputeSeconds | None = None,
) -> dict[str, Any]:
    """The payload of the `repair` provenance event for a finished clip. Append it with
    `append_event(session, REPAIR_ACTION, actor, CLIP_SUBJECT, provenance.provenance_id, payload)`
    in the transaction that inserts the clip's rows. `compute`: what the repair cost, as stored on
    the clip row (absent from events written before migration 0003)."""
    payload = {
        **provenance.to_json(),
        "output": {"path": output_path, "sha256": output_sha256, "size_bytes": output_size},
    }
    if compute is not None:
        payload["compute"] = compute.to_json()
    return payload
