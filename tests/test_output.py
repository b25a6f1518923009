"""The flagged output file, read back as a player and an auditor would: the mark is on every
synthetic frame and on no real one, the timed-text cues cover exactly the synthetic ranges, the
metadata names model and provenance id, and a failure leaves nothing behind."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from gapfill.errors import UserError
from gapfill.media.probe import read_metadata
from gapfill.provenance.facts import METADATA_PREFIX, ClipProvenance, InputSegment, ranges_at
from gapfill.repair.contact_sheet import pick_frames, write_contact_sheet
from gapfill.repair.marks import MARK_COLOUR, mark_geometry, mark_synthetic
from gapfill.repair.output import (
    read_cues,
    remove_stale_parts,
    write_flagged_clip,
)

T0 = dt.datetime(2026, 1, 5, 7, 0, tzinfo=dt.UTC)
FPS = 9.6  # an irregular camera rate: 1/fps is not a whole number of milliseconds
MODEL_SHA = "ab12" * 16


def scene(count: int, height: int = 144, width: int = 176) -> Iterator[np.ndarray]:
    """Bright textured frames with a moving bar, so the dark mark box stands out."""
    rng = np.random.default_rng(7)
    texture = rng.integers(170, 230, size=(height, width, 3), dtype=np.uint8)
    for k in range(count):
        frame = texture.copy()
        x = (k * 5) % (width - 20)
        frame[height // 2 :, x : x + 20] = (40, 90, 200)
        yield frame


def provenance(ranges: list[tuple[int, int]], count: int) -> ClipProvenance:
    return ClipProvenance(
        provenance_id="5e1f" * 8,
        camera="press-01",
        clip_start=T0,
        clip_end=T0 + dt.timedelta(seconds=count / FPS),
        synthetic_ranges=ranges_at(ranges, T0, FPS),
        model_name="malt-default",
        model_sha256=MODEL_SHA,
        inputs=(InputSegment("/rec/a.mp4", "cd" * 32, 1),),
        parameters={"steps": 12},
        seed=3,
    )


def decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


@pytest.mark.parametrize("size", [(144, 176), (360, 640)])
def test_mark_is_on_synthetic_frames_only(tmp_path: Path, size: tuple[int, int]) -> None:
    height, width = size
    ranges, count = [(10, 18), (25, 26)], 40
    written = write_flagged_clip(
        tmp_path / "clip.mp4", scene(count, height, width), FPS, provenance(ranges, count)
    )
    assert (written.frame_count, written.width, written.height) == (count, width, height)

    g = mark_geometry(height, width)
    synthetic = {k for start, end in ranges for k in range(start, end)}
    frames = decoded(written.path)
    assert len(frames) == count
    for k, frame in enumerate(frames):
        # The label box is black with yellow text: far darker than the bright scene.
        box_luma = frame[g.box_y0 : g.box_y1, g.box_x0 : g.box_x1].mean()
        # The outline runs along the bottom edge too, where the scene is bright or blue.
        edge = frame[-g.border :, width // 4 : width // 2].astype(int)
        edge_is_magenta = np.abs(edge - MARK_COLOUR).mean() < 60
        if k in synthetic:
            assert box_luma < 110, f"frame {k}: synthetic but no mark (box mean {box_luma:.0f})"
            assert edge_is_magenta, f"frame {k}: synthetic but no outline"
        else:
            assert box_luma > 160, f"frame {k}: real but marked (box mean {box_luma:.0f})"
            assert not edge_is_magenta, f"frame {k}: real but outlined"


def test_mark_scales_with_the_picture_and_leaves_the_input_alone() -> None:
    heights = {}
    for height, width in [(144, 176), (1080, 1920), (2160, 3840)]:
        g = mark_geometry(height, width)
        assert 0 < g.box_x0 < g.box_x1 <= width and 0 < g.box_y0 < g.box_y1 <= height
        heights[height] = g.box_y1 - g.box_y0
    # Same share of the picture at HD and 4K, and at least ~10 text pixels at QCIF.
    assert heights[144] >= 15
    assert heights[2160] / heights[1080] == pytest.approx(2.0, rel=0.1)
    frame = np.full((144, 176, 3), 200, np.uint8)
    marked = mark_synthetic(frame)
    assert (frame == 200).all() and not (marked == 200).all()


def test_cues_cover_exactly_the_synthetic_ranges(tmp_path: Path) -> None:
    ranges, count = [(10, 18), (25, 26)], 40
    prov = provenance(ranges, count)
    written = write_flagged_clip(tmp_path / "clip.mp4", scene(count), FPS, prov)

    with av.open(str(written.path)) as container:
        assert [s.type for s in container.streams] == ["video", "subtitle"]
        assert container.streams.subtitles[0].codec_context.name == "mov_text"
        video = container.streams.video[0]
        assert video.codec_context.name == "h264"
        assert float(video.average_rate) == pytest.approx(FPS, rel=1e-3)

    cues = read_cues(written.path)
    assert len(cues) == len(ranges)
    for cue, (start, end) in zip(cues, ranges, strict=True):
        assert cue.start_s == pytest.approx(start / FPS, abs=1e-4)
        assert cue.end_s == pytest.approx(end / FPS, abs=1e-4)
        assert cue.text.startswith(f"SYNTHETIC frames {start}-{end - 1} ")
        assert "malt-default" in cue.text and MODEL_SHA[:12] in cue.text
        assert prov.provenance_id in cue.text


def test_metadata_names_model_and_provenance(tmp_path: Path) -> None:
    prov = provenance([(10, 18)], 30)
    written = write_flagged_clip(tmp_path / "clip.mp4", scene(30), FPS, prov)
    tags = read_metadata(written.path)
    assert "SYNTHETIC" in tags["title"]
    for key in ("comment", "description"):
        assert "malt-default" in tags[key] and MODEL_SHA in tags[key]
        assert prov.provenance_id in tags[key] and "frames 10-17" in tags[key]
    assert tags[f"{METADATA_PREFIX}provenance_id"] == prov.provenance_id
    assert tags[f"{METADATA_PREFIX}model"] == "malt-default"
    assert tags[f"{METADATA_PREFIX}model_sha256"] == MODEL_SHA
    assert tags[f"{METADATA_PREFIX}synthetic_frames"] == "10-17"


def _failing_frames(count: int, fail_at: int) -> Iterator[np.ndarray]:
    for k, frame in enumerate(scene(count)):
        if k == fail_at:
            raise RuntimeError("decoder died")
        yield frame


class _BrokenSigner:
    def sign_file(self, source: Path, destination: Path, provenance: ClipProvenance) -> None:
        destination.write_bytes(source.read_bytes()[:100])
        raise OSError(28, "No space left on device")


@pytest.mark.parametrize("failure", ["frames", "signer", "range_past_end"])
def test_a_failure_leaves_no_file_and_no_litter(tmp_path: Path, failure: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "other.mp4").write_bytes(b"someone else's file")
    target = out / "clip.mp4"
    prov = provenance([(10, 18)], 30)
    with pytest.raises((RuntimeError, OSError, ValueError)):
        if failure == "frames":
            write_flagged_clip(target, _failing_frames(30, fail_at=20), FPS, prov)
        elif failure == "signer":
            write_flagged_clip(target, scene(30), FPS, prov, signer=_BrokenSigner())
        else:
            write_flagged_clip(target, scene(12), FPS, prov)
    assert sorted(p.name for p in out.iterdir()) == ["other.mp4"]


def test_stale_parts_of_a_killed_writer_are_removed(tmp_path: Path) -> None:
    stale, fresh = tmp_path / ".clip.mp4.video.x1.part", tmp_path / ".clip2.mp4.video.x2.part"
    for part in (stale, fresh):
        part.write_bytes(b"half a file")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    (tmp_path / "clip0.mp4").write_bytes(b"finished clip")
    assert remove_stale_parts(tmp_path, older_than_s=3600) == [stale]
    assert fresh.exists() and (tmp_path / "clip0.mp4").exists()


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "clip.mp4"
    target.write_bytes(b"earlier clip")
    with pytest.raises(UserError, match="already exists"):
        write_flagged_clip(target, scene(20), FPS, provenance([(5, 8)], 20))
    assert target.read_bytes() == b"earlier clip"


def test_rejects_overlapping_ranges(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ValueError, match="disjoint"):
        write_flagged_clip(out / "c.mp4", scene(20), FPS, provenance([(5, 9), (8, 12)], 20))
    assert list(out.iterdir()) == []


def test_contact_sheet(tmp_path: Path) -> None:
    ranges, count = [(12, 30)], 40
    prov = provenance(ranges, count)
    written = write_flagged_clip(tmp_path / "clip.mp4", scene(count), FPS, prov)
    assert pick_frames(prov, count, context=4, synthetic=8) == [
        8,
        9,
        10,
        11,
        12,
        14,
        17,
        19,
        22,
        24,
        27,
        29,
        30,
        31,
        32,
        33,
    ]
    sheet = write_contact_sheet(written.path, tmp_path / "sheet.png", prov, tile_width=160)
    image = cv2.cvtColor(cv2.imread(str(sheet)), cv2.COLOR_BGR2RGB)
    # 16 tiles of 160 px in 4 columns, plus the header row.
    assert image.shape[1] >= 4 * 160 and image.shape[0] > 4 * 130
    magenta = np.all(image == MARK_COLOUR, axis=2)
    rows_with_outline = np.flatnonzero(magenta.any(axis=1))
    # Outlines (synthetic tiles) sit in the two middle rows of the grid only.
    header, gap = 48, 6  # two header lines: what the clip is, what made its frames
    pitch = (image.shape[0] - header - gap) // 4
    tile_rows = [np.arange(header + k * pitch, header + (k + 1) * pitch - gap) for k in range(4)]
    assert not np.isin(tile_rows[0], rows_with_outline).any()
    assert np.isin(tile_rows[1], rows_with_outline).any()
    assert np.isin(tile_rows[2], rows_with_outline).any()
    assert not np.isin(tile_rows[3], rows_with_outline).any()
