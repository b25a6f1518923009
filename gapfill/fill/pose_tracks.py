"""Each paired object followed through the context frames: the poses a learned model may copy.

The first guess carries a person across a hole on the right path but in a cross-dissolve of the
two poses seen in the end frames (motion_fill.py). A walker repeats their stride, so the right
pose for a frame in the hole has usually been seen already, in one of the context frames: what
pose selection needs is those context frames' poses, cut out and lined up. This module provides
them (MotionFill.follow_poses calls it); a model that chooses among them draws its choice through
Track.pose_weights. benchmarks/pose_selection.py measures what that is worth and trains one.

For a pair (object a in before[-1], b in after[0]) the object is followed POSE_CONTEXT frames back
from a and forward from b, at analysis size: its end-frame appearance is matched (match_shift) in
each further frame around where its velocity puts it, and what differs from the plate around the
match is its mask there. Each candidate keeps the full-size sprite, the point of the sprite that
sits on the object's path (its end-frame centroid carried by the match, so that every candidate
lines up with the path as the end sprites do), and a small appearance crop to compare poses by.
A frame where the object cannot be found (it has not entered yet, it is hidden, the match leaves
the picture) has no candidate.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from gapfill.fill.motion_analysis import Blob, crop_to_mask, foreground, match_shift

# Context frames each side whose poses are followed: 8 at 10 fps is 0.8 s, nearly a whole
# stride of a walking person (0.9-1.25 s in the simulated cameras), so most poses are seen once.
POSE_CONTEXT = 8
# Each pose's appearance crop, for a model to compare poses by: luma in the object's box, grown
# by BOX_GROW, resized to this.
CROP_H, CROP_W = 32, 20

# Search radius for the match in each further frame: this share of the object's size (sqrt of its
# area, px) plus TRACK_SLACK px, around where the previous frame's match and the velocity put it.
TRACK_REACH, TRACK_SLACK = 0.2, 2.0
# A candidate's mask is the foreground within the object's end box grown by this share of its
# height and width (legs and arms reach beyond the end pose's box), and it must cover between
# MIN_AREA_RATIO and MAX_AREA_RATIO of the end object's area (else something else was found).
BOX_GROW = 0.25
MIN_AREA_RATIO, MAX_AREA_RATIO = 0.6, 1.6
# The values above were set once by looking at the crops of a few simulated walkers (benchmarks/
# pose_selection.py's cameras), not tuned; what they give is measured there.


@dataclass
class Pose:
    """One candidate: the object in one context frame, at analysis size."""

    frame: int  # frames from before[-1] (0, -1, ...) or after[0] (n+1, n+2, ...): its time
    mask: np.ndarray  # (y1-y0, x1-x0) bool
    box: tuple[int, int, int, int]
    anchor: np.ndarray  # (2,) x, y: the point on the object's path (analysis px)
    crop: np.ndarray  # (CROP_H, CROP_W) float32 luma in [0,1], zero off the mask


def context_views(
    frames: np.ndarray, plate: np.ndarray, excluded: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One side's context frames (uint8 (T,h,w,3), from the hole outwards) as `follow` reads
    them: luma (T,h,w) float32, and where each differs from the plate outside the pixels other
    layers own (T,h,w) bool. Made once a side, whatever the number of objects followed."""
    luma = frames.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    moving = np.stack([foreground(frame, plate) & ~excluded for frame in frames])
    return luma, moving


def follow(
    blob: Blob, luma: np.ndarray, moving: np.ndarray, forward: bool, first_frame: int
) -> list[Pose]:
    """The poses of `blob` (an end object, at analysis size) through one side's context
    (`context_views` of its frames, its own end frame first, moving away from the hole): up to
    POSE_CONTEXT, the end frame's own first. first_frame: the end frame's time (0 before the
    hole, n+1 after); later poses are one frame further from the hole each. forward: the frames
    run forward in time (after the hole); velocity is per frame forward.
    """
    step = blob.velocity if forward else -blob.velocity
    height, width = moving.shape[1:]
    x0, y0, x1, y1 = blob.box
    grow_x, grow_y = BOX_GROW * (x1 - x0), BOX_GROW * (y1 - y0)
    reach = TRACK_REACH * blob.size + TRACK_SLACK
    poses, shift = [], np.zeros(2)
    for j in range(min(POSE_CONTEXT, len(luma))):
        if j:
            found = match_shift(
                [luma[0]], [luma[j]], blob.box, tuple(shift + step), (reach, reach), blob.mask
            )
            if found is None:
                break
            shift = found[0]
        dx, dy = np.round(shift).astype(int)
        wx0, wy0 = max(0, int(x0 + dx - grow_x)), max(0, int(y0 + dy - grow_y))
        wx1, wy1 = min(width, int(x1 + dx + grow_x) + 1), min(height, int(y1 + dy + grow_y) + 1)
        if wx1 - wx0 < 2 or wy1 - wy0 < 2:
            break
        window = np.zeros((height, width), bool)
        if j:
            window[wy0:wy1, wx0:wx1] = moving[j, wy0:wy1, wx0:wx1]
        else:
            window[y0:y1, x0:x1] = blob.mask
        area = window.sum()
        if not MIN_AREA_RATIO * blob.area <= area <= MAX_AREA_RATIO * blob.area:
            continue  # hidden, or merged with something here
        mask, box = crop_to_mask(window)
        if j and (box[0] == 0 or box[2] == width):
            continue  # partly off the picture's side: a part of the person is not a pose
        anchor = blob.centre + shift
        poses.append(
            Pose(
                first_frame + (j if forward else -j),
                mask,
                box,
                anchor,
                _crop(luma[j], window, anchor, blob, (grow_x, grow_y)),
            )
        )
    return poses


def _crop(
    luma: np.ndarray, mask: np.ndarray, anchor: np.ndarray, blob: Blob, grow: tuple[float, float]
) -> np.ndarray:
    """The object's luma under its mask in a window of the end object's box, grown by `grow`
    (x, y px), round `anchor` (the same place on the object in every frame), resized to
    CROP_H x CROP_W."""
    x0, y0, x1, y1 = blob.box
    dx, dy = np.round(anchor - blob.centre).astype(int)
    gx, gy = round(grow[0]), round(grow[1])
    masked = np.where(mask, luma, 0).astype(np.float32) / 255
    pad = max(gx, gy) + max(abs(dx), abs(dy)) + 1
    masked = cv2.copyMakeBorder(masked, pad, pad, pad, pad, cv2.BORDER_CONSTANT)
    window = masked[
        pad + y0 + dy - gy : pad + y1 + dy + gy, pad + x0 + dx - gx : pad + x1 + dx + gx
    ]
    return cv2.resize(window, (CROP_W, CROP_H), interpolation=cv2.INTER_AREA)
