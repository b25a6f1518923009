"""The visible mark every synthetic frame carries, so nobody can mistake one for real footage.

A synthetic frame gets
- a label "SYNTHETIC" in a solid box in the top-left corner: yellow text on black inside a
  magenta frame, the highest-contrast combination over any scene, and
- a thin magenta outline along the whole picture border, visible even when the corner is
  cropped away.

Everything scales with the picture's short side, so the label is readable from 176x144 up to 4K.
Real frames are never passed here: the caller marks only frames inside a synthetic range.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

LABEL = "SYNTHETIC"
# RGB. Magenta is rare in plant footage; yellow on black is the most legible text pairing.
MARK_COLOUR = (255, 0, 255)
TEXT_COLOUR = (255, 230, 0)
BOX_COLOUR = (0, 0, 0)
FONT = cv2.FONT_HERSHEY_DUPLEX
# Label text height as a fraction of the picture's short side, and its minimum in pixels.
TEXT_HEIGHT_FRACTION = 0.055
MIN_TEXT_HEIGHT_PX = 10


@dataclass(frozen=True)
class MarkGeometry:
    """Where the mark goes on a picture of a given size (pixel coordinates, end exclusive)."""

    box_x0: int
    box_y0: int
    box_x1: int
    box_y1: int
    text_origin: tuple[int, int]
    font_scale: float
    text_thickness: int
    border: int  # width of the picture outline and of the box frame


def mark_geometry(height: int, width: int, label: str = LABEL) -> MarkGeometry:
    """Size and place the label for a height x width picture."""
    short_side = min(height, width)
    # Even and at least 2 px, so the outline survives 4:2:0 chroma subsampling intact.
    border = max(2, 2 * round(short_side / 480))
    text_height = max(MIN_TEXT_HEIGHT_PX, round(short_side * TEXT_HEIGHT_FRACTION))
    thickness = max(1, round(text_height / 12))
    # getTextSize at scale 1 gives the font's height; scale to the wanted height.
    (_w1, h1), _ = cv2.getTextSize(label, FONT, 1.0, thickness)
    scale = text_height / h1
    (text_w, text_h), baseline = cv2.getTextSize(label, FONT, scale, thickness)
    # A narrow picture shrinks the label so it always fits inside the outline.
    max_text_w = width - 6 * border - 2 * max(2, text_h // 3)
    if text_w > max_text_w > 0:
        scale *= max_text_w / text_w
        (text_w, text_h), baseline = cv2.getTextSize(label, FONT, scale, thickness)
    padding = max(2, text_h // 3)
    x0 = y0 = 2 * border
    x1 = min(width, x0 + text_w + 2 * padding + 2 * border)
    y1 = min(height, y0 + text_h + baseline + 2 * padding + 2 * border)
    origin = (x0 + border + padding, y0 + border + padding + text_h)
    return MarkGeometry(x0, y0, x1, y1, origin, scale, thickness, border)


def mark_synthetic(frame: np.ndarray, label: str = LABEL) -> np.ndarray:
    """A copy of an RGB uint8 frame (H, W, 3) with the synthetic mark burnt in."""
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 frame (H, W, 3), got {frame.shape} {frame.dtype}")
    height, width = frame.shape[:2]
    g = mark_geometry(height, width, label)
    marked = np.ascontiguousarray(frame).copy()
    b = g.border
    # Picture outline: four slices, no per-pixel work.
    marked[:b], marked[-b:] = MARK_COLOUR, MARK_COLOUR
    marked[:, :b], marked[:, -b:] = MARK_COLOUR, MARK_COLOUR
    # Label box: magenta frame, black fill, yellow text.
    marked[g.box_y0 : g.box_y1, g.box_x0 : g.box_x1] = MARK_COLOUR
    marked[g.box_y0 + b : g.box_y1 - b, g.box_x0 + b : g.box_x1 - b] = BOX_COLOUR
    cv2.putText(
        marked,
        label,
        g.text_origin,
        FONT,
        g.font_scale,
        TEXT_COLOUR,
        g.text_thickness,
        lineType=cv2.LINE_AA,
    )
    return marked
