"""The sidecar `<clip>.provenance.json`: the clip's provenance readable without the catalog.

Written atomically (temporary file in the same directory, fsync, rename) after the clip itself
is final, since it carries the clip's sha256. Format (UTF-8 JSON, keys sorted, 2-space indent):

    {
      "format": "gapfill.provenance/1",
      "provenance_id": "9f0c...",               # also in the MP4 metadata, C2PA manifest, catalog
      "camera": "press-01",
      "clip_start": "2026-01-05T07:00:00.000000Z",  # wall-clock span of the whole clip (UTC)
      "clip_end":   "2026-01-05T07:00:20.000000Z",
      "synthetic_ranges": [                      # frame indices in the clip, end exclusive
        {"frame_start": 40, "frame_end": 72,
         "start_time": "2026-01-05T07:00:04.000000Z", "end_time": "2026-01-05T07:00:07.200000Z"}
      ],
      "model": {"name": "malt-default", "sha256": "ab12..."},   # sha256 of the model file(s)
      "parameters": {...},                       # everything needed to redo the fill, and
                                                 # "model_change": "kept" | "dropped" | ... (the
                                                 # learned change is in the frames, or the
                                                 # first guess alone; gapfill.fill.fill_gap)
      "seed": 1234,
      "inputs": [                                # every original segment the repair read
        {"path": "/recordings/2026-01-05/07/press-01/00.00.mp4", "sha256": "...",
         "recording_id": 12}
      ],
      "defect_ids": [7],
      "created_at": "2026-01-05T08:00:01.123456Z",
      "output": {"path": "press-01-20260105T070000Z-9f0c.mp4",  # file name, beside the sidecar
                 "sha256": "...", "size_bytes": 123456}          # of the final, signed file
    }
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from gapfill.errors import UserError
from gapfill.media.encode import atomic_write_bytes
from gapfill.provenance.facts import ClipProvenance

SIDECAR_FORMAT = "gapfill.provenance/1"
SIDECAR_SUFFIX = ".provenance.json"


def sidecar_path(clip_path: str | os.PathLike[str]) -> Path:
    clip_path = Path(clip_path)
    return clip_path.with_name(clip_path.name + SIDECAR_SUFFIX)


def sidecar_document(
    provenance: ClipProvenance, clip_path: Path, output_sha256: str, output_size: int
) -> dict[str, Any]:
    return {
        "format": SIDECAR_FORMAT,
        **provenance.to_json(),
        "output": {"path": clip_path.name, "sha256": output_sha256, "size_bytes": output_size},
    }


def write_sidecar(
    clip_path: str | os.PathLike[str],
    provenance: ClipProvenance,
    output_sha256: str,
    output_size: int,
) -> Path:
    """Write `<clip>.provenance.json` next to the clip, atomically. Returns its path."""
    clip_path = Path(clip_path)
    document = sidecar_document(provenance, clip_path, output_sha256, output_size)
    text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    path = sidecar_path(clip_path)
    atomic_write_bytes(path, text.encode())
    return path


def read_sidecar(clip_path: str | os.PathLike[str]) -> dict[str, Any]:
    """The sidecar of a clip as a dict; a missing or unparsable one is a UserError naming it."""
    path = sidecar_path(clip_path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: sidecar missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: sidecar unreadable: {exc}") from None
    if not isinstance(document, dict) or document.get("format") != SIDECAR_FORMAT:
        raise UserError(f"{path}: not a {SIDECAR_FORMAT} sidecar")
    problem = _shape_problem(document)
    if problem is not None:
        raise UserError(f"{path}: malformed sidecar: {problem}")
    return document


# The fields verify, audit and the contact sheet read, with their JSON types: a sidecar edited
# by hand that still parses is refused here, once, instead of failing in each of them on a wrong
# type. Strict: "12" is no integer and true no number, as in JSON; other fields pass unchecked.
class _Shape(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")


class _SyntheticRange(_Shape):
    frame_start: int
    frame_end: int
    start_time: str
    end_time: str


class _Input(_Shape):
    path: str
    sha256: str


class _Output(_Shape):
    sha256: str


class _Sidecar(_Shape):
    provenance_id: str
    synthetic_ranges: list[_SyntheticRange]
    model: dict[str, Any]
    inputs: list[_Input]
    parameters: dict[str, Any]
    seed: int
    output: _Output


# pydantic's wording names its own classes ("a valid dictionary or instance of _Output"); an
# auditor reads JSON's.
_PROBLEMS = {
    "missing": "missing",
    "model_type": "is not an object",
    "dict_type": "is not an object",
    "list_type": "is not a list",
    "int_type": "is not an integer",
    "string_type": "is not a string",
}


def _shape_problem(document: dict[str, Any]) -> str | None:
    """The first thing wrong with the shape of a parsed sidecar, in one line
    ('synthetic_ranges[0].frame_start is not an integer'), or None."""
    try:
        _Sidecar.model_validate(document)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"]
        )
        return f"{where.lstrip('.')} {_PROBLEMS.get(error['type'], error['msg'])}"
    return None
