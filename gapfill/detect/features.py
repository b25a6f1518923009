"""Per-frame signals of a decoded file, the inputs of every picture detector.

Computed batch by batch (vectorised over the frames of a batch, no per-pixel Python) while the file
decodes, so a long file never sits in memory as pictures: only these few numbers per frame remain.
The signals follow QCTools where one exists:
- ydif: mean absolute luma difference to the previous frame (QCTools YDIF), in 0-255 levels;
- dark_ratio: fraction of pixels at or below the black threshold (FFmpeg blackdetect's picture
  ratio);
- luma_std: spread of luma within the picture (a solid colour has almost none);
- saturation: mean chroma distance from neutral grey (QCTools SATAVG; SATMAX-like when the picture
  is solid);
- u_mean, v_mean: the picture's mean chroma, to tell green from other solid colours;
- blockiness: mean luma step across coding-block edges over the mean step inside blocks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gapfill.media.decode import FrameBatch


@dataclass
class FrameFeatures:
    """Signals of all N decoded frames of one file, in presentation order. Every array is (N,)."""

    time: np.ndarray  # float64 seconds (stream clock)
    pts: np.ndarray  # int64
    keyframe: np.ndarray  # bool
    decode_ok: np.ndarray  # bool
    ydif: np.ndarray  # float32; NaN for the first frame
    dark_ratio: np.ndarray  # float32
    luma_mean: np.ndarray  # float32
    luma_std: np.ndarray  # float32
    saturation: np.ndarray  # float32
    u_mean: np.ndarray  # float32
    v_mean: np.ndarray  # float32
    blockiness: np.ndarray  # float32

    def __len__(self) -> int:
        return len(self.time)

    @staticmethod
    def empty() -> FrameFeatures:
        f32 = np.zeros(0, np.float32)
        return FrameFeatures(
            time=np.zeros(0),
            pts=np.zeros(0, np.int64),
            keyframe=np.zeros(0, bool),
            decode_ok=np.zeros(0, bool),
            ydif=f32,
            dark_ratio=f32,
            luma_mean=f32,
            luma_std=f32,
            saturation=f32,
            u_mean=f32,
            v_mean=f32,
            blockiness=f32,
        )


def black_luma_threshold(pixel_fraction: float, full_range: bool) -> float:
    """blackdetect's pix_th as a luma level: a fraction of the luma range above its floor."""
    low, high = (0.0, 255.0) if full_range else (16.0, 235.0)
    return low + pixel_fraction * (high - low)


class FeatureExtractor:
    """Feed it the batches of one file in order; `finish()` gives the file's FrameFeatures."""

    def __init__(self, black_threshold: float, block_periods: tuple[int, ...]) -> None:
        self.black_threshold = black_threshold
        # Block grids in analysis pixels (an 8-pixel grid at full size is a 4-pixel one at half).
        self.block_periods = block_periods
        self._previous: np.ndarray | None = None  # last luma picture of the previous batch
        self._parts: list[dict[str, np.ndarray]] = []

    def add(self, batch: FrameBatch) -> None:
        luma = batch.luma.astype(np.int16)  # (N, H, W)
        n = len(luma)
        pixels = luma.shape[1] * luma.shape[2]

        # Difference to the previous frame, across the batch boundary too.
        previous = (
            luma[:-1]
            if self._previous is None
            else np.concatenate([self._previous[None], luma[:-1]])
        )
        diffs = np.abs(luma[-len(previous) :] - previous).reshape(len(previous), -1)
        ydif = np.full(n, np.nan, np.float32)
        ydif[n - len(previous) :] = diffs.mean(axis=1)
        self._previous = luma[-1]

        flat = luma.reshape(n, pixels)
        luma_mean = flat.mean(axis=1)
        luma_std = flat.std(axis=1)
        dark_ratio = (flat <= self.black_threshold).mean(axis=1)

        chroma = batch.chroma.astype(np.int32) - 128  # (N, 2, H/2, W/2), neutral at 0
        u, v = chroma[:, 0].reshape(n, -1), chroma[:, 1].reshape(n, -1)
        saturation = np.sqrt((u * u + v * v).astype(np.float32)).mean(axis=1)  # (N,)

        self._parts.append(
            {
                "time": batch.time,
                "pts": batch.pts,
                "keyframe": batch.keyframe,
                "decode_ok": batch.decode_ok,
                "ydif": ydif,
                "dark_ratio": dark_ratio.astype(np.float32),
                "luma_mean": luma_mean.astype(np.float32),
                "luma_std": luma_std.astype(np.float32),
                "saturation": saturation,
                "u_mean": u.mean(axis=1).astype(np.float32) + 128,
                "v_mean": v.mean(axis=1).astype(np.float32) + 128,
                "blockiness": block_edge_ratio(luma, self.block_periods),
            }
        )

    def finish(self) -> FrameFeatures:
        if not self._parts:
            return FrameFeatures.empty()
        joined = {key: np.concatenate([p[key] for p in self._parts]) for key in self._parts[0]}
        return FrameFeatures(**joined)


def block_edge_ratio(luma: np.ndarray, periods: tuple[int, ...]) -> np.ndarray:
    """Blockiness of each picture: (N, H, W) int16 luma -> (N,) float32.

    Like FFmpeg's blockdetect: for a block grid of period p, the mean absolute step between
    neighbouring pixels on either side of a grid line, over the mean step between neighbours
    inside a block. Taken per direction and per period, and the largest wins (a picture cut into
    16x16 blocks has flat 8-pixel stretches between its grid lines; a picture whose height is not
    a multiple of the block has a regular grid in one direction only). Natural pictures and
    well-coded video give about 1; a picture made of flat blocks gives several. The +0.25 level in
    the denominator keeps flat pictures (a solid frame) from scoring high on nothing.
    """
    n = len(luma)
    dx = np.abs(np.diff(luma, axis=2)).mean(axis=1)  # (N, W-1): step between columns x, x+1
    dy = np.abs(np.diff(luma, axis=1)).mean(axis=2)  # (N, H-1): step between rows y, y+1
    best = np.zeros(n, np.float32)
    for steps in (dx, dy):
        positions = np.arange(1, steps.shape[1] + 1)
        for period in periods:
            on_grid = (positions % period) == 0
            if period < 2 or on_grid.sum() < 2:
                continue
            ratio = steps[:, on_grid].mean(axis=1) / (steps[:, ~on_grid].mean(axis=1) + 0.25)
            best = np.maximum(best, ratio.astype(np.float32))
    return best
