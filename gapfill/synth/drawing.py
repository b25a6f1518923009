"""Drawing primitives of the simulated scene: the static background and the moving sprites.

Everything is drawn with numpy array operations and OpenCV primitives (no per-pixel Python).
Sizes are given at 360 lines and scaled by `unit = height / 360`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

Colour = tuple[int, int, int]


@dataclass(frozen=True)
class BackgroundLayout:
    image: np.ndarray  # (H, W, 3) uint8 RGB
    floor_top: int  # first row of floor (the wall/floor line)
    belt_top: int
    belt_bottom: int
    wheel_centre: tuple[int, int]
    wheel_radius: int
    lamp_positions: list[tuple[int, int]]


@dataclass(frozen=True)
class Box:
    sprite: np.ndarray  # (h, w, 3) uint8
    offset: float  # position along the belt loop at t = 0, pixels
    lift: int  # how far the box bottom sits above the belt's lower edge (perspective)


@dataclass(frozen=True)
class Walker:
    start_s: float
    duration_s: float
    direction: int  # +1 walks left to right, -1 right to left
    speed: float  # pixels per second
    feet_y: int
    height_px: int
    vest: Colour
    trousers: Colour
    helmet: Colour
    skin: Colour
    step_hz: float

    def is_visible(self, t: float, width: int) -> bool:
        return self.start_s <= t < self.start_s + self.duration_s

    def x_at(self, t: float, width: int) -> float:
        travelled = self.speed * (t - self.start_s) - self.height_px / 2
        return travelled if self.direction > 0 else width - travelled

    def swing(self, t: float) -> float:
        """The limbs' angle from upright at time t, radians: where the stride is."""
        return 0.4 * math.sin(2 * math.pi * self.step_hz * (t - self.start_s))


# ---- background ---------------------------------------------------------------------------------


def draw_background(rng: np.random.Generator, width: int, height: int) -> BackgroundLayout:
    """The static part of the picture, drawn once per scene."""
    unit = height / 360
    image = np.zeros((height, width, 3), dtype=np.float32)
    floor_top = int(height * rng.uniform(0.55, 0.66))
    belt_top = floor_top + int(height * rng.uniform(0.05, 0.1))
    belt_bottom = belt_top + max(6, int(height * rng.uniform(0.07, 0.1)))

    _draw_wall(rng, image, floor_top, unit)
    _draw_floor(rng, image, floor_top, unit)
    for _ in range(int(rng.integers(1, 4))):
        _draw_pipe(rng, image, floor_top, unit)
    machines = _draw_machines(rng, image, floor_top, unit)
    _draw_conveyor_frame(rng, image, belt_top, belt_bottom, unit)
    _add_texture(rng, image)

    flywheel_machine = machines[0]
    x0, y0, x1, y1 = flywheel_machine
    wheel_radius = max(4, int(min(x1 - x0, y1 - y0) * rng.uniform(0.25, 0.38)))
    wheel_centre = ((x0 + x1) // 2, y0 + (y1 - y0) // 2)
    lamp_positions = []
    for x0, y0, x1, _ in [*machines[1:], flywheel_machine]:
        for k in range(int(rng.integers(1, 3))):
            lamp_positions.append((x0 + int((0.25 + 0.2 * k) * (x1 - x0)), y0 + int(12 * unit)))
    return BackgroundLayout(
        image=np.clip(image, 0, 255).astype(np.uint8),
        floor_top=floor_top,
        belt_top=belt_top,
        belt_bottom=belt_bottom,
        wheel_centre=wheel_centre,
        wheel_radius=wheel_radius,
        lamp_positions=lamp_positions,
    )


def _draw_wall(rng: np.random.Generator, image: np.ndarray, floor_top: int, unit: float) -> None:
    width = image.shape[1]
    base = rng.choice(_WALL_COLOURS).astype(np.float32)
    x = 0
    while x < width:  # vertical panels of slightly different shades, dark seams between them
        panel_w = int(width * rng.uniform(0.1, 0.22))
        image[:floor_top, x : x + panel_w] = base * rng.uniform(0.9, 1.08)
        image[:floor_top, x : x + max(1, int(2 * unit))] *= 0.55
        for y in range(int(10 * unit), floor_top, max(4, int(rng.uniform(30, 60) * unit))):
            cv2.circle(image, (x + int(6 * unit), y), max(1, int(1.5 * unit)), (70, 70, 70), -1)
        x += panel_w
    seam_y = int(floor_top * rng.uniform(0.35, 0.6))
    image[seam_y : seam_y + max(1, int(2 * unit)), :] *= 0.6
    # a darker band of grime along the bottom of the wall
    grime = np.linspace(1.0, 0.75, max(1, int(25 * unit)), dtype=np.float32)
    image[floor_top - grime.size : floor_top] *= grime[:, None, None]


def _draw_floor(rng: np.random.Generator, image: np.ndarray, floor_top: int, unit: float) -> None:
    height, width = image.shape[:2]
    concrete = rng.uniform(95, 140) * np.array([1.0, 0.98, 0.93], dtype=np.float32)
    depth = np.linspace(0.8, 1.05, height - floor_top, dtype=np.float32)[:, None, None]
    image[floor_top:] = concrete * depth
    # painted walkway line and expansion joints converging to a vanishing point above the picture
    line_y = int(floor_top + (height - floor_top) * rng.uniform(0.75, 0.9))
    cv2.line(image, (0, line_y), (width, line_y), (210, 180, 40), max(2, int(6 * unit)))
    vanish_x = width * rng.uniform(0.3, 0.7)
    for k in range(-3, 4):
        x_bottom = int(vanish_x + k * width * 0.35)
        x_top = int(vanish_x + k * width * 0.12)
        cv2.line(image, (x_top, floor_top), (x_bottom, height), (80, 80, 78), max(1, int(unit)))


def _draw_pipe(rng: np.random.Generator, image: np.ndarray, floor_top: int, unit: float) -> None:
    width = image.shape[1]
    radius = max(2, int(rng.uniform(5, 12) * unit))
    centre_y = int(rng.uniform(0.08, 0.75) * floor_top)
    colour = rng.choice(_PIPE_COLOURS).astype(np.float32)
    # cylinder shading: bright along a highlight line, dark at the edges
    d = np.linspace(-1, 1, 2 * radius + 1, dtype=np.float32)
    shade = (
        0.35 + 0.65 * np.sqrt(np.clip(1 - d**2, 0, 1)) + 0.35 * np.exp(-(((d + 0.4) / 0.15) ** 2))
    )
    top = centre_y - radius
    rows = slice(max(0, top), min(floor_top, centre_y + radius + 1))
    image[rows] = colour * shade[rows.start - top : rows.stop - top, None, None]
    for x in range(int(rng.uniform(0, 0.2) * width), width, int(rng.uniform(0.2, 0.35) * width)):
        flange = (x, centre_y - radius - int(2 * unit), x + int(6 * unit), centre_y + radius + 2)
        cv2.rectangle(image, flange[:2], flange[2:], tuple(float(c) * 0.8 for c in colour), -1)
        cv2.rectangle(image, flange[:2], flange[2:], (40, 40, 40), max(1, int(unit)))


def _draw_machines(
    rng: np.random.Generator, image: np.ndarray, floor_top: int, unit: float
) -> list[tuple[int, int, int, int]]:
    """Cabinets standing against the wall; returns their boxes (x0, y0, x1, y1)."""
    width = image.shape[1]
    count = int(rng.integers(2, 4))
    slot_w = width // count
    machines = []
    for k in range(count):
        machine_w = int(slot_w * rng.uniform(0.45, 0.8))
        machine_h = int(floor_top * rng.uniform(0.45, 0.75))
        x0 = k * slot_w + int(rng.uniform(0, slot_w - machine_w))
        y1 = floor_top + int(8 * unit)
        y0 = y1 - machine_h
        colour = tuple(float(c) for c in rng.choice(_MACHINE_COLOURS))
        cv2.rectangle(image, (x0, y0), (x0 + machine_w, y1), colour, -1)
        cv2.rectangle(image, (x0, y0), (x0 + machine_w, y0 + int(4 * unit)), (220, 220, 215), -1)
        cv2.rectangle(image, (x0, y0), (x0 + machine_w, y1), (25, 25, 25), max(1, int(2 * unit)))
        # ventilation slots near the bottom, a dark control panel near the top
        for y in range(y1 - int(40 * unit), y1 - int(8 * unit), max(2, int(5 * unit))):
            cv2.line(image, (x0 + int(8 * unit), y), (x0 + machine_w // 2, y), (30, 30, 30), 1)
        panel = (x0 + machine_w // 2, y0 + int(20 * unit), x0 + machine_w - int(8 * unit))
        cv2.rectangle(image, panel[:2], (panel[2], y0 + int(45 * unit)), (35, 38, 42), -1)
        machines.append((x0, y0, x0 + machine_w, y1))
    return machines


def _draw_conveyor_frame(
    rng: np.random.Generator, image: np.ndarray, belt_top: int, belt_bottom: int, unit: float
) -> None:
    height, width = image.shape[:2]
    steel = (150.0, 155.0, 160.0)
    rail = max(2, int(4 * unit))
    cv2.rectangle(image, (0, belt_top - rail), (width, belt_top), steel, -1)
    cv2.rectangle(image, (0, belt_bottom), (width, belt_bottom + rail), (110, 112, 118), -1)
    leg_bottom = min(height - 1, belt_bottom + int(rng.uniform(25, 45) * unit))
    for x in range(int(20 * unit), width, int(rng.uniform(90, 150) * unit)):
        cv2.rectangle(
            image, (x, belt_bottom + rail), (x + int(6 * unit), leg_bottom), (60, 62, 66), -1
        )


def _add_texture(rng: np.random.Generator, image: np.ndarray) -> None:
    """Large blotches (dirt, uneven paint) and fine grain, both fixed: part of the background."""
    height, width = image.shape[:2]
    coarse = rng.standard_normal((height // 24 + 2, width // 24 + 2)).astype(np.float32)
    coarse = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    image *= (1.0 + 0.07 * coarse)[:, :, None]
    image += rng.normal(0, 4.0, size=(height, width, 1)).astype(np.float32)


# ---- moving parts -------------------------------------------------------------------------------


def make_belt_tile(rng: np.random.Generator, belt_height: int, unit: float) -> np.ndarray:
    """One period of the belt surface (dark rubber, a lighter cleat): (belt_height, period, 3)."""
    period = max(8, int(rng.uniform(24, 40) * unit))
    rubber = rng.uniform(35, 60)
    tile = np.full((belt_height, period, 3), rubber, dtype=np.float32)
    tile[:, : max(2, int(4 * unit))] = rubber + 45  # the cleat
    edge_shade = 0.75 + 0.25 * np.sin(np.linspace(0, math.pi, belt_height, dtype=np.float32))
    tile *= edge_shade[:, None, None]
    tile += rng.normal(0, 5.0, size=(belt_height, period, 1)).astype(np.float32)
    return np.clip(tile, 0, 255).astype(np.uint8)


def make_box_sprite(rng: np.random.Generator, box_w: int, box_h: int, unit: float) -> np.ndarray:
    """A cardboard box seen from the front and a little above: lid, tape, label."""
    cardboard = np.array([rng.uniform(160, 205), rng.uniform(115, 150), rng.uniform(60, 90)])
    sprite = np.empty((box_h, box_w, 3), dtype=np.float32)
    lid = max(2, box_h // 5)
    sprite[:lid] = cardboard * 1.15
    sprite[lid:] = cardboard * 0.9
    tape_x = box_w // 2 - max(1, box_w // 12)
    sprite[:, tape_x : tape_x + max(2, box_w // 6)] *= 1.12
    label = (int(box_w * 0.12), lid + int(box_h * 0.15))
    label_end = (label[0] + max(3, box_w // 3), label[1] + max(3, box_h // 4))
    cv2.rectangle(sprite, label, label_end, (235, 235, 230), -1)
    for x in range(label[0] + 1, label_end[0] - 1, max(2, int(2 * unit))):
        cv2.line(sprite, (x, label[1] + 2), (x, label_end[1] - 2), (30, 30, 30), 1)
    cv2.rectangle(sprite, (0, 0), (box_w - 1, box_h - 1), tuple(cardboard * 0.5), 1)
    sprite += rng.normal(0, 3.0, size=(box_h, box_w, 1)).astype(np.float32)
    return np.clip(sprite, 0, 255).astype(np.uint8)


def paste_clipped(canvas: np.ndarray, sprite: np.ndarray, x: int, y: int) -> None:
    """Copy sprite onto canvas with its top-left corner at (x, y), cutting what falls outside."""
    height, width = canvas.shape[:2]
    sprite_h, sprite_w = sprite.shape[:2]
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + sprite_w, width), min(y + sprite_h, height)
    if x0 < x1 and y0 < y1:
        canvas[y0:y1, x0:x1] = sprite[y0 - y : y1 - y, x0 - x : x1 - x]


def draw_wheel(
    canvas: np.ndarray,
    centre: tuple[int, int],
    radius: int,
    spokes: int,
    angle: float,
    colour: Colour,
) -> None:
    """A flywheel: rim, spokes at `angle` radians, hub, and a red mark that shows the rotation."""
    cx, cy = centre
    rim = max(2, radius // 7)
    cv2.circle(canvas, centre, radius, (45, 45, 48), -1, cv2.LINE_AA)
    cv2.circle(canvas, centre, radius - rim // 2, colour, rim, cv2.LINE_AA)
    for k in range(spokes):
        a = angle + 2 * math.pi * k / spokes
        tip = (int(cx + (radius - rim) * math.cos(a)), int(cy + (radius - rim) * math.sin(a)))
        cv2.line(canvas, centre, tip, colour, max(1, rim // 2 + 1), cv2.LINE_AA)
    mark = (
        int(cx + (radius - rim // 2) * math.cos(angle)),
        int(cy + (radius - rim // 2) * math.sin(angle)),
    )
    cv2.circle(canvas, mark, max(1, rim), (220, 30, 30), -1, cv2.LINE_AA)
    cv2.circle(canvas, centre, max(2, radius // 5), (200, 200, 205), -1, cv2.LINE_AA)


def draw_walker(canvas: np.ndarray, walker: Walker, t: float, x: float | None = None) -> None:
    """A person in hard hat and vest, legs and arms swinging with the step, as at time t.

    x: where the body's centre line is drawn, px; by default where the walker is at time t (a
    benchmark draws a pose from one time at the place of another).
    """
    h = walker.height_px
    if x is None:
        x = walker.x_at(t, canvas.shape[1])
    feet = walker.feet_y
    swing = walker.swing(t)
    hip = (x, feet - 0.48 * h)
    shoulder_y = feet - 0.82 * h
    leg = 0.48 * h
    limb = max(2, int(0.08 * h))
    for sign in (1, -1):
        foot = (hip[0] + sign * leg * math.sin(swing), feet - leg * (1 - math.cos(swing)))
        cv2.line(canvas, _pt(hip), _pt(foot), walker.trousers, limb, cv2.LINE_AA)
        cv2.line(
            canvas,
            _pt(foot),
            _pt((foot[0] + 0.05 * h * walker.direction, foot[1])),
            (20, 20, 20),
            limb,
            cv2.LINE_AA,
        )
    torso = np.array(
        [
            (x - 0.12 * h, shoulder_y),
            (x + 0.12 * h, shoulder_y),
            (x + 0.1 * h, hip[1]),
            (x - 0.1 * h, hip[1]),
        ],
        dtype=np.int32,
    )
    cv2.fillConvexPoly(canvas, torso, walker.vest, cv2.LINE_AA)
    stripe_y = int(shoulder_y + 0.2 * h)
    cv2.line(
        canvas,
        (int(x - 0.11 * h), stripe_y),
        (int(x + 0.11 * h), stripe_y),
        (225, 225, 225),
        max(1, int(0.025 * h)),
    )
    arm = 0.36 * h
    for sign in (1, -1):
        hand = (x - sign * arm * math.sin(swing), shoulder_y + arm * math.cos(swing))
        cv2.line(
            canvas,
            _pt((x, shoulder_y + 0.03 * h)),
            _pt(hand),
            walker.vest,
            max(2, int(0.06 * h)),
            cv2.LINE_AA,
        )
        cv2.circle(canvas, _pt(hand), max(1, int(0.03 * h)), walker.skin, -1, cv2.LINE_AA)
    head_r = max(2, int(0.065 * h))
    head = (x, shoulder_y - 0.03 * h - head_r)
    cv2.circle(canvas, _pt(head), head_r, walker.skin, -1, cv2.LINE_AA)
    cv2.ellipse(
        canvas,
        _pt((head[0], head[1] - 0.3 * head_r)),
        (head_r + 1, head_r),
        0,
        180,
        360,
        walker.helmet,
        -1,
        cv2.LINE_AA,
    )


def _pt(point: tuple[float, float]) -> tuple[int, int]:
    return round(point[0]), round(point[1])


_WALL_COLOURS = np.array(
    [(150, 160, 165), (120, 135, 150), (170, 165, 150), (110, 130, 115), (185, 185, 180)]
)
_PIPE_COLOURS = np.array(
    [(170, 170, 175), (60, 110, 170), (190, 60, 45), (210, 180, 50), (80, 140, 80)]
)
_MACHINE_COLOURS = np.array(
    [(70, 120, 90), (230, 120, 40), (60, 90, 140), (200, 200, 195), (90, 95, 100)]
)
