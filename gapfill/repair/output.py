"""The flagged output file: real context + synthetic frames, marked so nobody mistakes them.

`write_flagged_clip` writes one MP4 (H.264, source resolution and frame rate):
- every synthetic frame carries the visible corner mark and outline (marks.py);
- a timed-text track (mov_text, the MP4 subtitle format every player shows) has one cue per
  synthetic range: "SYNTHETIC frames 40-71 (model malt-default sha256 ab12...; provenance ...)";
- container metadata names the model (name + sha256) and the provenance id, in the standard
  `title`/`comment`/`description` tags and in `com.gapfill.*` keys (stored as MP4 `mdta` keys
  through `movflags use_metadata_tags`);
- optionally a C2PA manifest, signed after the last remux (gapfill/provenance/c2pa_sign.py).

How it is built, all in the destination directory under hidden temporary names:
1. encode the frames with media.encode.VideoWriter (H.264, explicit PTS on a 1/90000 clock);
2. remux with PyAV: copy the video packets, add the mov_text stream (encoded by PyAV's
   SubtitleSet/encode_subtitle) and the metadata, move the index to the front (faststart);
3. sign into a third temporary file (C2PA), fsync;
4. rename the last one to the final name and fsync the directory.
A crash at any point leaves nothing under the final name (only hidden `.<name>.*.part` files a
restarted repair may delete); an exception removes the temporary files itself.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import tempfile
import time
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import av
import numpy as np
from av.subtitles.subtitle import SubtitleSet

from gapfill.errors import UserError
from gapfill.media.encode import DEFAULT_TIME_BASE, FILE_MODE, VideoWriter, fsync_directory
from gapfill.media.probe import sha256_file
from gapfill.provenance.facts import METADATA_PREFIX, ClipProvenance, SyntheticRange
from gapfill.repair.marks import mark_synthetic

# The mov_text encoder needs an ASS header to start; only the Default style is used.
_ASS_HEADER = (
    b"[Script Info]\nScriptType: v4.00+\nPlayResX: 384\nPlayResY: 288\n\n"
    b"[V4+ Styles]\nFormat: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, "
    b"OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, "
    b"Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\n"
    b"Style: Default,Sans,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,0\n\n"
    b"[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
)


class ClipSigner(Protocol):
    """Writes a signed copy of `source` to `destination` (gapfill.provenance.c2pa_sign)."""

    def sign_file(self, source: Path, destination: Path, provenance: ClipProvenance) -> None: ...


@dataclass(frozen=True)
class WrittenClip:
    """Facts about a finished output file (the bytes under its final name)."""

    path: Path
    sha256: str
    size_bytes: int
    frame_count: int
    width: int
    height: int
    fps: float
    signed: bool


@dataclass(frozen=True)
class Cue:
    """One timed-text cue as read back from a file (seconds from the start of the clip)."""

    start_s: float
    end_s: float
    text: str


def cue_text(provenance: ClipProvenance, span: SyntheticRange) -> str:
    return (
        f"SYNTHETIC {span.describe()} (model {provenance.model_name} sha256 "
        f"{provenance.model_sha256[:12]}; provenance {provenance.provenance_id})"
    )


def container_metadata(provenance: ClipProvenance) -> dict[str, str]:
    """The tags written into the MP4: readable sentences plus machine keys."""
    spans = ",".join(f"{s.frame_start}-{s.frame_end - 1}" for s in provenance.synthetic_ranges)
    sentence = (
        f"Contains SYNTHETIC frames {spans.replace(',', ', ')} reconstructed by model "
        f"{provenance.model_name} "
        f"(sha256 {provenance.model_sha256}); provenance id {provenance.provenance_id}; "
        "all other frames are real recorded footage."
    )
    return {
        "title": f"gapfill reconstruction, camera {provenance.camera} (contains SYNTHETIC frames)",
        "comment": sentence,
        "description": sentence,
        f"{METADATA_PREFIX}provenance_id": provenance.provenance_id,
        f"{METADATA_PREFIX}camera": provenance.camera,
        f"{METADATA_PREFIX}model": provenance.model_name,
        f"{METADATA_PREFIX}model_sha256": provenance.model_sha256,
        f"{METADATA_PREFIX}synthetic_frames": spans,
    }


def write_flagged_clip(
    path: str | os.PathLike[str],
    frames: Iterable[np.ndarray],
    fps: float,
    provenance: ClipProvenance,
    *,
    signer: ClipSigner | None = None,
    crf: int = 18,
    gop: int | None = None,
    overwrite: bool = False,
) -> WrittenClip:
    """Write the flagged clip to `path` atomically and return its facts.

    frames: RGB uint8 arrays (H, W, 3), all the same size, in display order, frame k shown at
      k / fps after the clip start; consumed once (a generator is fine, nothing is held).
    provenance.synthetic_ranges: which frame indices are synthetic (marked, cued); sorted and
      disjoint.
    signer: signs the file (C2PA) before it gets its final name; None writes it unsigned.
    """
    path = Path(path)
    if fps <= 0:
        raise ValueError(f"{path}: fps must be positive, got {fps}")
    if path.exists() and not overwrite:
        raise UserError(f"{path}: output already exists; refusing to overwrite it")
    if not path.parent.is_dir():
        raise UserError(f"{path.parent}: output directory does not exist")
    ranges = _checked_ranges(path, provenance.synthetic_ranges)

    staged: list[Path] = []
    try:
        video = _staging_name(path, "video", staged)
        frame_count, width, height = _encode(video, frames, fps, ranges, crf, gop)
        if ranges and ranges[-1].frame_end > frame_count:
            raise ValueError(
                f"{path}: synthetic range {ranges[-1].describe()} is past the clip's "
                f"{frame_count} frames"
            )
        flagged = _staging_name(path, "flagged", staged)
        _remux_with_flags(video, flagged, fps, provenance)
        final_source = flagged
        if signer is not None:
            signed = _staging_name(path, "signed", staged)
            signer.sign_file(flagged, signed, provenance)
            final_source = signed
        os.chmod(final_source, FILE_MODE)
        _fsync(final_source)
        os.replace(final_source, path)
        fsync_directory(path.parent)
    finally:
        for temp in staged:
            temp.unlink(missing_ok=True)
    return WrittenClip(
        path=path,
        sha256=sha256_file(path),
        size_bytes=path.stat().st_size,
        frame_count=frame_count,
        width=width,
        height=height,
        fps=fps,
        signed=signer is not None,
    )


def remove_stale_parts(
    directory: str | os.PathLike[str],
    older_than_s: float = 3600.0,
    keep: Collection[Path] = (),
) -> list[Path]:
    """Delete the hidden `.<clip>.*.part` files a killed writer left in `directory`.

    Only files untouched for `older_than_s` go, so a writer still running in the same directory
    (another worker) keeps its own; files in `keep` never go (a recorded clip's pending file is
    its only copy). Returns what was deleted."""
    removed = []
    cutoff = time.time() - older_than_s
    for candidate in Path(directory).glob(".*.part"):
        if candidate in keep:
            continue
        with contextlib.suppress(FileNotFoundError):  # another worker or host removed it first
            if candidate.is_file() and candidate.stat().st_mtime < cutoff:
                candidate.unlink()
                removed.append(candidate)
    return removed


def _checked_ranges(path: Path, ranges: Sequence[SyntheticRange]) -> list[SyntheticRange]:
    ordered = sorted(ranges, key=lambda r: r.frame_start)
    previous_end = 0
    for span in ordered:
        if span.frame_start < previous_end or span.frame_end <= span.frame_start:
            raise ValueError(
                f"{path}: synthetic ranges must be non-empty and disjoint, got "
                f"{[(r.frame_start, r.frame_end) for r in ranges]}"
            )
        previous_end = span.frame_end
    return ordered


def _staging_name(final: Path, stage: str, staged: list[Path]) -> Path:
    """A fresh hidden name next to `final`, recorded for cleanup."""
    descriptor, name = tempfile.mkstemp(
        dir=final.parent, prefix=f".{final.name}.{stage}.", suffix=".part"
    )
    os.close(descriptor)
    staged.append(Path(name))
    return Path(name)


def frame_pts(index: int, fps: float) -> int:
    """Presentation time of frame `index` on the 1/90000 clock the clip is written with."""
    return round(index / (fps * DEFAULT_TIME_BASE))


def _encode(
    video: Path,
    frames: Iterable[np.ndarray],
    fps: float,
    ranges: list[SyntheticRange],
    crf: int,
    gop: int | None,
) -> tuple[int, int, int]:
    """Encode the frames, marking the synthetic ones. Returns (frame count, width, height)."""
    starts = [r.frame_start for r in ranges]
    writer: VideoWriter | None = None
    count = 0
    try:
        for index, rgb in enumerate(frames):
            if writer is None:
                height, width = rgb.shape[:2]
                writer = VideoWriter(
                    video,
                    width=width,
                    height=height,
                    fps=fps,
                    gop=gop or max(1, round(2 * fps)),
                    crf=crf,
                )
            # The range that could contain `index` is the last one starting at or before it.
            at = bisect.bisect_right(starts, index) - 1
            synthetic = at >= 0 and index < ranges[at].frame_end
            writer.write(mark_synthetic(rgb) if synthetic else rgb, pts=frame_pts(index, fps))
            count += 1
        if writer is None:
            raise ValueError(f"{video}: no frames to write")
        writer.close()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    return count, writer.width, writer.height


def _remux_with_flags(source: Path, destination: Path, fps: float, prov: ClipProvenance) -> None:
    """Copy the video packets and add the timed-text cues and metadata."""
    options = {"movflags": "+faststart+use_metadata_tags"}
    with (
        av.open(str(source)) as reader,
        av.open(str(destination), mode="w", format="mp4", options=options) as out,
    ):
        video_in = reader.streams.video[0]
        video_out = out.add_stream_from_template(video_in)
        text_out = out.add_stream("mov_text")
        text_out.time_base = video_in.time_base
        text_out.codec_context.subtitle_header = _ASS_HEADER
        text_out.metadata["handler_name"] = "gapfill synthetic ranges"
        text_out.metadata["language"] = "eng"
        for key, value in container_metadata(prov).items():
            out.metadata[key] = value

        # Cues are muxed just before the first video packet they cover, keeping the file
        # interleaved in time order.
        cues = [
            _cue_packet(text_out, prov, span, fps, video_in.time_base)
            for span in sorted(prov.synthetic_ranges, key=lambda r: r.frame_start)
        ]
        for packet in reader.demux(video_in):
            if packet.dts is None:  # the demuxer's end-of-stream marker
                continue
            while cues and packet.pts is not None and cues[0].pts <= packet.pts:
                out.mux(cues.pop(0))
            packet.stream = video_out
            out.mux(packet)
        for cue in cues:
            out.mux(cue)


def _cue_packet(
    stream: av.stream.Stream,
    prov: ClipProvenance,
    span: SyntheticRange,
    fps: float,
    time_base: Fraction,
) -> av.Packet:
    start = round(span.frame_start / (fps * time_base))
    end = round(span.frame_end / (fps * time_base))
    dialogue = f"0,0,Default,,0,0,0,,{cue_text(prov, span)}".encode()
    subtitle = SubtitleSet.create(dialogue, 0, end - start, pts=start)
    packet = stream.codec_context.encode_subtitle(subtitle)
    packet.stream = stream
    packet.time_base = time_base
    return packet


def read_cues(path: str | os.PathLike[str]) -> list[Cue]:
    """The non-empty timed-text cues of a clip (mov_text samples: 2-byte length + UTF-8)."""
    cues = []
    with av.open(str(path)) as container:
        if not container.streams.subtitles:
            return []
        stream = container.streams.subtitles[0]
        for packet in container.demux(stream):
            data = bytes(packet)
            if packet.pts is None or len(data) < 2:
                continue
            length = int.from_bytes(data[:2], "big")
            text = data[2 : 2 + length].decode("utf-8")
            if not text:
                continue  # the muxer's filler sample between cues
            start = float(packet.pts * packet.time_base)
            cues.append(Cue(start, start + float(packet.duration * packet.time_base), text))
    return cues


def _fsync(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())
