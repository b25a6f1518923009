"""Clip bytes and decoded frames, by clip id only.

A request never names a path: it names a clip id, the catalog gives the path, and the path is
resolved (symlinks followed) and refused unless it lies under the configured output directory or
one of the recordings roots. So neither a crafted URL nor a tampered catalog row makes the API
serve /etc/passwd.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse

from gapfill.api.auth import catalog_of, require
from gapfill.api.schemas import MAX_INT, errors
from gapfill.api.tokens import Principal
from gapfill.catalog.queries.clips import clip_path
from gapfill.config import Settings

# Frames are decoded in runs so that stepping through a clip costs one decode per run.
FRAME_RUN = 16
_FRAME_CACHE_BYTES = 64 << 20


def allowed_roots(settings: Settings) -> list[Path]:
    roots = [settings.effective_output_dir, *settings.recordings_dirs]
    return [Path(root).expanduser().resolve() for root in roots]


def safe_path(settings: Settings, stored: str) -> Path:
    """The catalogued file, resolved, if it lies under an allowed root; 404 / 403 otherwise."""
    try:
        resolved = Path(stored).resolve(strict=True)
    except (OSError, RuntimeError):
        raise HTTPException(404, "clip file is missing on disk") from None
    if not any(resolved.is_relative_to(root) for root in allowed_roots(settings)):
        raise HTTPException(403, "clip file lies outside the output and recordings roots")
    if not resolved.is_file():
        raise HTTPException(404, "clip file is not a regular file")
    return resolved


@dataclass(frozen=True)
class ClipMedia:
    fps: float | None
    frame_count: int
    width: int | None
    height: int | None


class FrameStore:
    """Probed facts and encoded frames of clip files, cached by (path, size, mtime) so a
    replaced file is never served from a stale cache."""

    def __init__(self, max_bytes: int = _FRAME_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._frames: OrderedDict[tuple[object, ...], bytes] = OrderedDict()
        self._size = 0
        self._probes: dict[tuple[object, ...], ClipMedia] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _identity(path: Path) -> tuple[object, ...]:
        stat = path.stat()
        return (str(path), stat.st_size, stat.st_mtime_ns)

    def media(self, path: Path) -> ClipMedia:
        from gapfill.media.probe import probe

        key = self._identity(path)
        with self._lock:
            cached = self._probes.get(key)
        if cached is not None:
            return cached
        facts = probe(path)
        if facts.error:
            raise HTTPException(422, f"clip file is not readable video: {facts.error}")
        media = ClipMedia(facts.fps, facts.frame_count, facts.width, facts.height)
        with self._lock:
            self._probes[key] = media
        return media

    def frame(self, path: Path, index: int, fmt: str) -> bytes:
        """Frame `index` (0-based, as synthetic_spans counts) encoded as JPEG or PNG."""
        media = self.media(path)
        if not 0 <= index < media.frame_count:
            raise HTTPException(
                404, f"frame {index} out of range: the clip has {media.frame_count} frames"
            )
        key = (*self._identity(path), index, fmt)
        with self._lock:
            if key in self._frames:
                self._frames.move_to_end(key)
                return self._frames[key]
        encoded = self._decode_run(path, media, index, fmt)
        with self._lock:
            for at, data in encoded.items():
                run_key = (*key[:3], at, fmt)
                if run_key not in self._frames:
                    self._frames[run_key] = data
                    self._size += len(data)
            while self._size > self.max_bytes and self._frames:
                _old, data = self._frames.popitem(last=False)
                self._size -= len(data)
        if index not in encoded:
            raise HTTPException(422, f"frame {index} could not be decoded")
        return encoded[index]

    @staticmethod
    def _decode_run(path: Path, media: ClipMedia, index: int, fmt: str) -> dict[int, bytes]:
        import cv2

        from gapfill.media.frames import read_frames

        fps = media.fps or 1.0
        first = index - index % FRAME_RUN
        # Half a frame either side: frame k is shown at k / fps from the first frame.
        timed = read_frames(
            path, (first - 0.5) / fps if first else 0.0, (first + FRAME_RUN - 0.5) / fps
        )
        out: dict[int, bytes] = {}
        for t, rgb in zip(timed.times, timed.frames, strict=True):
            at = round(float(t) * fps)
            bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
            if fmt == "png":
                ok, data = cv2.imencode(".png", bgr)
            else:
                ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 90])
            if ok:
                out[at] = data.tobytes()
        return out


# --- routes ---------------------------------------------------------------------------------

router = APIRouter(prefix="/api/clips", tags=["media"], responses=errors(401, 403, 404))
ClipId = Annotated[int, PathParam(ge=1, le=MAX_INT, description="synthetic_clips.id")]
Reader = Annotated[Principal, Depends(require("read"))]


def clip_file(request: Request, clip_id: int) -> Path:
    """The checked path of clip `clip_id` (404 if there is no such clip)."""
    with catalog_of(request).session() as session:
        stored = clip_path(session, clip_id)
    if stored is None:
        raise HTTPException(404, f"no synthetic clip {clip_id}")
    return safe_path(request.app.state.settings, stored)


@router.get(
    "/{clip_id}/video",
    response_class=FileResponse,
    summary="The clip file (MP4), with HTTP Range support (206 Partial Content)",
    responses={
        206: {"description": "The requested byte range."},
        416: {"description": "Bad range."},
    },
)
def clip_video(request: Request, clip_id: ClipId, _user: Reader) -> FileResponse:
    path = clip_file(request, clip_id)
    # Starlette's FileResponse answers Range / If-Range itself (206, 416, multipart ranges).
    return FileResponse(
        path,
        media_type="video/mp4",
        filename=None,
        headers={"Cache-Control": "private, max-age=0, must-revalidate"},
    )


@router.get(
    "/{clip_id}/frames/{index}",
    summary="One decoded frame of the clip as JPEG (default) or PNG",
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}},
    response_class=Response,
)
def clip_frame(
    request: Request,
    clip_id: ClipId,
    index: Annotated[
        int, PathParam(ge=0, le=MAX_INT, description="0-based frame index in the clip file")
    ],
    _user: Reader,
    fmt: Annotated[Literal["jpeg", "png"], Query(alias="format")] = "jpeg",
) -> Response:
    path = clip_file(request, clip_id)
    data = request.app.state.frames.frame(path, index, fmt)
    return Response(
        data,
        media_type="image/png" if fmt == "png" else "image/jpeg",
        headers={"Cache-Control": "private, max-age=300"},
    )
