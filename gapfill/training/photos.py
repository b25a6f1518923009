"""Training footage made from real still photographs: a photo background, real-photo objects
moving over it, seen by a mostly fixed camera.

Why: the only real training clip (bikes.mp4) is 250 frames; the simulated cameras
(gapfill.synth.scene) are drawn shapes. Neither teaches the autoencoder what real texture looks
like, and its reconstruction of real footage it never saw is poor (MODEL_CARD.md, latent
ceiling). Optical-flow networks learn motion that transfers to real video from real photos moved
over real photos (FlyingChairs, Dosovitskiy et al. 2015); this is that recipe, with the motions of
an equipment camera: a still or slowly panning view, parts that travel, accelerate, swing back and
forth and turn, cover and uncover each other, light that flickers, sensor noise.

The photos are the sample images that install with scikit-image and Matplotlib (never the
evaluation clips, which are videos). Each is decoded once; a window is rendered directly at the
working size with OpenCV affine warps, a few milliseconds per window.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from gapfill.errors import UserError

# (package, file inside the package). Colour photographs, then grey ones and textures (read as
# three equal channels). Drawings, charts and microscope slides are left out: not camera footage.
PHOTO_FILES: tuple[tuple[str, str], ...] = (
    ("skimage", "data/astronaut.png"),
    ("skimage", "data/chelsea.png"),
    ("skimage", "data/coffee.png"),
    ("skimage", "data/hubble_deep_field.jpg"),
    ("skimage", "data/motorcycle_left.png"),
    ("skimage", "data/motorcycle_right.png"),
    ("skimage", "data/rocket.jpg"),
    ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
    ("skimage", "data/brick.png"),
    ("skimage", "data/camera.png"),
    ("skimage", "data/grass.png"),
    ("skimage", "data/gravel.png"),
    ("skimage", "data/moon.png"),
    ("skimage", "data/coins.png"),
)


def load_photos() -> list[np.ndarray]:
    """The photo library as RGB uint8 arrays (H, W, 3); grey photos are repeated to RGB."""
    photos = []
    for package, name in PHOTO_FILES:
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            raise UserError(
                f"--photos: the package {package} is not installed (pip install -e '.[dev]')"
            )
        path = Path(spec.origin).parent / name
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)  # BGR, grey repeated to three channels
        if image is None:
            raise UserError(f"{path}: cannot read the training photo")
        photos.append(np.ascontiguousarray(image[:, :, ::-1]))
    return photos


@dataclass(frozen=True)
class _Motion:
    """A 2D path in pixels per frame: constant acceleration, or a swing (sinusoid) about a point."""

    start: np.ndarray  # (2,) x, y
    velocity: np.ndarray  # (2,)
    acceleration: np.ndarray  # (2,)
    swing: np.ndarray  # (2,) amplitude of the back-and-forth; 0: none
    period: float  # frames per swing
    phase: float

    def at(self, t: float) -> np.ndarray:
        swing = self.swing * np.sin(2 * np.pi * t / self.period + self.phase)
        return self.start + self.velocity * t + 0.5 * self.acceleration * t * t + swing


def _random_motion(rng: np.random.Generator, start: np.ndarray, speed: float) -> _Motion:
    angle = rng.uniform(0, 2 * np.pi)
    direction = np.array([np.cos(angle), np.sin(angle)])
    swinging = rng.random() < 0.35  # a machine part going back and forth
    return _Motion(
        start=start,
        velocity=direction * speed * (0.2 if swinging else 1.0),
        acceleration=rng.normal(0, 0.04 * max(speed, 0.5), 2),
        swing=direction * rng.uniform(3, 20) if swinging else np.zeros(2),
        period=float(rng.uniform(8, 40)),
        phase=float(rng.uniform(0, 2 * np.pi)),
    )


def _affine(
    center_src: np.ndarray, center_dst: np.ndarray, angle: float, scale: float
) -> np.ndarray:
    """2x3 matrix mapping source pixels to destination: rotate and scale about the centres."""
    matrix = cv2.getRotationMatrix2D((float(center_src[0]), float(center_src[1])), angle, scale)
    matrix[:, 2] += center_dst - center_src
    return matrix


def _sprite(
    rng: np.random.Generator, photo: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """A `size`-pixel piece of `photo` and its soft mask (float32 in [0, 1]): an ellipse or a
    convex polygon, edges blurred by a pixel like a real object's."""
    h, w = photo.shape[:2]
    scale = rng.uniform(0.15, 0.6) * min(h, w) / size  # photo pixels per sprite pixel
    crop = int(min(h, w, round(size * scale)))
    y, x = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
    pixels = cv2.resize(
        photo[y : y + crop, x : x + crop], (size, size), interpolation=cv2.INTER_AREA
    )
    mask = np.zeros((size, size), np.float32)
    c = size / 2
    if rng.random() < 0.5:
        axes = (int(c * rng.uniform(0.4, 0.95)), int(c * rng.uniform(0.4, 0.95)))
        cv2.ellipse(mask, (int(c), int(c)), axes, rng.uniform(0, 180), 0, 360, 1.0, -1)
    else:
        points = rng.uniform(0.05 * size, 0.95 * size, (int(rng.integers(3, 8)), 2))
        cv2.fillConvexPoly(mask, cv2.convexHull(points.astype(np.int32)), 1.0)
    mask = cv2.GaussianBlur(mask, (3, 3), 0.8)
    return pixels, mask


def render_photo_window(
    rng: np.random.Generator,
    photos: list[np.ndarray],
    length: int,
    height: int,
    width: int,
) -> np.ndarray:
    """`length` consecutive frames (length, height, width, 3) uint8 of one random photo scene."""
    # Background: a photo shrunk so that the view sees a part of it, slack left for a pan.
    photo = photos[int(rng.integers(len(photos)))]
    cover = max(height / photo.shape[0], width / photo.shape[1]) * rng.uniform(1.2, 2.2)
    background = cv2.resize(
        photo,
        None,
        fx=cover,
        fy=cover,
        interpolation=cv2.INTER_AREA if cover < 1 else cv2.INTER_CUBIC,
    )
    if rng.random() < 0.5:
        background = background[:, ::-1]
    bh, bw = background.shape[:2]
    view_center = np.array([width / 2, height / 2])
    slack = np.array([bw - width, bh - height]) / 2
    camera = rng.random()
    pan = np.zeros(2)
    if camera > 0.65:  # 35%: the camera pans slowly, or is shaken (a mount on a machine)
        pan = rng.normal(0, 0.5, 2)
    shake = rng.uniform(0.3, 1.5) if camera > 0.85 else 0.0
    origin = np.array([bw / 2, bh / 2]) + rng.uniform(-0.5, 0.5, 2) * slack

    # Objects: pieces of photos moving over the background, the first drawn first (behind).
    objects = []
    for _ in range(int(rng.integers(0, 5))):
        size = int(rng.integers(max(8, height // 8), max(9, height // 2)))
        pixels, mask = _sprite(rng, photos[int(rng.integers(len(photos)))], size)
        start = rng.uniform([0, 0], [width, height])
        speed = float(rng.choice([0.0, rng.uniform(0.3, 1.5), rng.uniform(1.5, 5.0)]))
        spin = rng.normal(0, 2.0) if rng.random() < 0.4 else 0.0
        grow = rng.normal(0, 0.006) if rng.random() < 0.3 else 0.0
        objects.append((pixels, mask, _random_motion(rng, start, speed), spin, grow))

    # Light: a slow change, sometimes a flicker (lamps on a mains cycle); sensor noise.
    gain_drift = rng.normal(0, 0.004)
    flicker = rng.uniform(0.01, 0.06) if rng.random() < 0.2 else 0.0
    flicker_period = rng.uniform(2.5, 12)
    noise = rng.uniform(0, 3.0)

    frames = np.empty((length, height, width, 3), np.uint8)
    for t in range(length):
        offset = np.clip(pan * t + rng.normal(0, shake, 2), -slack, slack)
        to_view = _affine(origin + offset, view_center, 0.0, 1.0)
        frame = cv2.warpAffine(
            background, to_view, (width, height), flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT,
        ).astype(np.float32)  # fmt: skip
        for pixels, mask, motion, spin, grow in objects:
            size = pixels.shape[0]
            # Objects live in the scene: the camera's pan and shake move them too.
            center = motion.at(t) - offset
            matrix = _affine(
                np.array([size / 2, size / 2]), center, spin * t, max(0.3, 1 + grow * t)
            )
            layer = cv2.warpAffine(pixels, matrix, (width, height), flags=cv2.INTER_LINEAR)
            alpha = cv2.warpAffine(mask, matrix, (width, height), flags=cv2.INTER_LINEAR)[..., None]
            frame = frame * (1 - alpha) + layer.astype(np.float32) * alpha
        gain = 1.0 + gain_drift * t + flicker * np.sin(2 * np.pi * t / flicker_period)
        frame = frame * gain + rng.normal(0, noise, frame.shape).astype(np.float32)
        frames[t] = np.clip(frame, 0, 255).astype(np.uint8)
    return frames
