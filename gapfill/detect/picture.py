"""Picture detectors: frames that decode but show the wrong thing (frozen, black, green, blocky).

All work on the per-frame signals of `features.py`, so each is a few vectorised comparisons and a
run-length pass. Thresholds come from DetectionSettings (defaults from FFmpeg's freezedetect and
blackdetect and QCTools' signals), possibly overridden per camera.
"""

from __future__ import annotations

import numpy as np

from gapfill.config import DetectionSettings
from gapfill.detect.features import FrameFeatures
from gapfill.detect.spans import Span, rounded, runs
from gapfill.detect.timeline import FileTimeline

# Fewer live frames than this fraction and a file cannot tell its own noise floor.
MIN_LIVE_FRACTION = 0.2


def freeze_floor_level(noise_db: float) -> float:
    """freezedetect's noise in dB of the full range, as a 0-255 luma level (-60 dB -> 0.255)."""
    return 255.0 * 10 ** (noise_db / 20.0)


def noise_floor(features: FrameFeatures, settings: DetectionSettings) -> float | None:
    """A file's sensor noise floor: the frame difference of its quietest live frames.

    A live camera never repeats a frame exactly: sensor noise alone moves every pixel a little, so
    even a static scene's frame difference sits at a floor well above that of a repeated frame
    (which differs only by the encoder's small refinements). Frames at or below freezedetect's
    absolute level, or far below the typical difference, are left out as the candidates for
    frozen; the floor is the lower quartile of the rest, so motion in the scene does not raise it.
    """
    ydif = features.ydif[1:]
    candidates = ydif[ydif > freeze_floor_level(settings.freeze_noise_db)]
    if len(candidates) < max(2, MIN_LIVE_FRACTION * len(ydif)):
        return None
    live = candidates[candidates > 0.5 * np.median(candidates)]
    if len(live) < max(2, MIN_LIVE_FRACTION * len(ydif)):
        return None
    return float(np.percentile(live, 25))


def detect_frozen(
    features: FrameFeatures,
    timeline: FileTimeline,
    settings: DetectionSettings,
    camera_noise_floor: float | None = None,
) -> list[Span]:
    """Frames that repeat the one before while timestamps advance.

    A frame repeats when its difference to the previous frame is below freeze_noise_floor_factor x
    the noise floor (the file's own, else the camera's), and never above... a floor of zero means
    the camera shows no noise at all, and then a static scene cannot be told from a frozen feed:
    nothing is reported rather than guessed. The frozen span starts at the first repeated frame
    (the frame before it is the last real one)."""
    floor = noise_floor(features, settings)
    source = "file"
    if floor is None:
        floor, source = camera_noise_floor, "camera"
    if floor is None or len(features) < 2:
        return []
    absolute = freeze_floor_level(settings.freeze_noise_db)
    threshold = max(absolute, settings.freeze_noise_floor_factor * floor)
    repeated = np.zeros(len(features), bool)
    repeated[1:] = features.ydif[1:] < threshold
    # A keyframe inside a frozen run is the same picture coded afresh: it differs from the frame
    # before by the re-quantisation alone (up to about the noise floor). Between two repeated
    # frames it is a repeat too.
    inner = np.flatnonzero(features.keyframe[1:-1]) + 1
    bridged = inner[
        repeated[inner - 1] & repeated[inner + 1] & (features.ydif[inner] < 2.0 * floor)
    ]
    repeated[bridged] = True
    spans = []
    for a, b in runs(repeated):
        span = timeline.span(
            "frozen",
            "picture.freeze",
            a,
            b - 1,
            max_ydif=rounded(np.max(features.ydif[a:b])),
            threshold=rounded(threshold),
            noise_floor=rounded(floor),
            noise_floor_from=source,
        )
        if span.duration + 1e-9 >= settings.freeze_min_seconds:
            spans.append(span)
    return spans


def green_frames(features: FrameFeatures, settings: DetectionSettings) -> np.ndarray:
    """Solid, strongly coloured pictures (the classic all-green frame of a broken decode is
    Y=U=V=0). SATMAX-like: the whole picture is far from neutral grey and has no texture."""
    solid = features.luma_std < settings.solid_max_luma_std
    return solid & (features.saturation >= settings.green_min_saturation)


def detect_green(
    features: FrameFeatures, timeline: FileTimeline, settings: DetectionSettings
) -> list[Span]:
    spans = []
    for a, b in runs(green_frames(features, settings)):
        spans.append(
            timeline.span(
                "green",
                "picture.solid_colour",
                a,
                b - 1,
                luma_std=rounded(np.max(features.luma_std[a:b])),
                saturation=rounded(np.min(features.saturation[a:b])),
                u_mean=rounded(np.mean(features.u_mean[a:b]), 1),
                v_mean=rounded(np.mean(features.v_mean[a:b]), 1),
                max_luma_std=settings.solid_max_luma_std,
                min_saturation=settings.green_min_saturation,
            )
        )
    return spans


def detect_black(
    features: FrameFeatures, timeline: FileTimeline, settings: DetectionSettings
) -> list[Span]:
    """blackdetect: at least black_picture_ratio of the pixels at or below the pixel threshold."""
    black = features.dark_ratio >= settings.black_picture_ratio
    black &= ~green_frames(features, settings)
    spans = []
    for a, b in runs(black):
        span = timeline.span(
            "black",
            "picture.black",
            a,
            b - 1,
            min_dark_ratio=rounded(np.min(features.dark_ratio[a:b])),
            luma_mean=rounded(np.mean(features.luma_mean[a:b]), 2),
            pixel_threshold=settings.black_pixel_luma,
            picture_ratio=settings.black_picture_ratio,
        )
        if span.duration + 1e-9 >= settings.black_min_seconds:
            spans.append(span)
    return spans


def detect_blocky(
    features: FrameFeatures, timeline: FileTimeline, settings: DetectionSettings
) -> list[Span]:
    """Pictures whose block edges step far more than their block interiors."""
    spans = []
    for a, b in runs(features.blockiness >= settings.blocky_score):
        spans.append(
            timeline.span(
                "blocky",
                "picture.blockiness",
                a,
                b - 1,
                max_score=rounded(np.max(features.blockiness[a:b]), 3),
                threshold=settings.blocky_score,
            )
        )
    return spans
