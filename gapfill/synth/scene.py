"""A deterministic, procedurally drawn fixed-camera industrial scene.

`Scene(seed).render(start_frame, count)` returns RGB frames; frame i depends only on the seed, the
scene's size and frame rate, and i, so any window can be drawn directly (model training samples
random windows without encoding video).

What is in the picture (all positions and colours drawn from the seed):
- a static background rendered once: wall panels with seams and rivets, a concrete floor, pipes
  with flanges, machine cabinets with vents and control panels, the conveyor's frame and legs,
  surface texture at two scales;
- moving content composited per frame: a conveyor belt with cleats carrying boxes, a rotating
  flywheel with spokes, blinking indicator lamps, people in hi-vis vests walking across now and
  then;
- slow lighting drift (a few percent over minutes) and Gaussian sensor noise. The noise comes from
  a bank of precomputed Gaussian fields, one picked and shifted per frame by a generator seeded with
  (seed, i): a fresh 640x360x3 Gaussian draw per frame would cost more than the rest of the frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from gapfill.synth.drawing import (
    Box,
    Walker,
    draw_background,
    draw_walker,
    draw_wheel,
    make_belt_tile,
    make_box_sprite,
    paste_clipped,
)

NOISE_BANK_SIZE = 8
NOISE_PAD = 32  # pixels of slack in each noise field, so a shifted window always fits


@dataclass(frozen=True)
class Lamp:
    x: int
    y: int
    radius: int
    colour: tuple[int, int, int]
    period_s: float
    duty: float
    phase_s: float


class Scene:
    """A fixed camera looking at a conveyor line. Deterministic and randomly accessible.

    seed: picks the layout, colours, speeds and the noise; different seeds look different.
    fps: frame i is shown at time i / fps seconds (the scene's own clock).
    motion: False gives a static scene (belt stopped, lamps steady, nobody walking); only the
      light drift and the sensor noise change, as on a camera watching an idle machine.
    """

    def __init__(
        self,
        seed: int,
        width: int = 640,
        height: int = 360,
        fps: float = 10.0,
        motion: bool = True,
    ) -> None:
        if width < 32 or height < 32:
            raise ValueError(f"scene size {width}x{height} is too small (at least 32x32)")
        if fps <= 0:
            raise ValueError(f"scene fps must be positive, got {fps}")
        self.seed = seed
        self.width = width
        self.height = height
        self.fps = fps
        self.motion = motion
        rng = np.random.default_rng([seed, 0x5CE7E])
        unit = height / 360  # sizes below are tuned at 360 lines and scale with the height

        layout = draw_background(rng, width, height)
        self.background: np.ndarray = layout.image  # (H, W, 3) uint8, never modified
        self.belt_top = layout.belt_top
        self.belt_bottom = layout.belt_bottom

        # Conveyor: a periodic belt texture moving right at a constant speed, boxes riding on it.
        self.belt_speed = float(rng.uniform(0.05, 0.11) * width)  # pixels per second
        self._belt_tile = make_belt_tile(rng, self.belt_bottom - self.belt_top, unit)
        self._belt_strip = np.tile(self._belt_tile, (1, width // self._belt_tile.shape[1] + 2, 1))
        self._boxes = self._make_boxes(rng, unit)
        self._box_loop = width + int(rng.uniform(0.3, 0.8) * width)  # boxes re-enter after this

        # Flywheel on the side of a machine.
        self.wheel_centre = layout.wheel_centre
        self.wheel_radius = layout.wheel_radius
        self.wheel_spokes = int(rng.integers(4, 8))
        self.wheel_rev_per_s = float(rng.uniform(0.08, 0.3) * rng.choice([-1, 1]))
        self.wheel_colour = tuple(int(c) for c in rng.integers(60, 200, size=3))

        self._lamps = [
            Lamp(
                x=x,
                y=y,
                radius=max(2, round(5 * unit)),
                colour=tuple(int(c) for c in rng.choice(_LAMP_COLOURS)),
                period_s=float(rng.uniform(0.6, 3.0)),
                duty=float(rng.uniform(0.3, 0.7)),
                phase_s=float(rng.uniform(0, 3.0)),
            )
            for x, y in layout.lamp_positions
        ]

        # People: time is cut into slots; a slot holds at most one walk across the picture.
        self.walker_slot_s = float(rng.uniform(25.0, 50.0))
        self.walker_probability = float(rng.uniform(0.6, 0.9))
        self.floor_top = layout.floor_top

        self.light_amplitude = float(rng.uniform(0.02, 0.04))
        self.light_period_s = float(rng.uniform(120.0, 300.0))
        self.light_phase = float(rng.uniform(0, 2 * math.pi))

        # grey levels: H.264 keeps a noise floor on a static scene (a frozen feed has none)
        self.noise_sigma = float(rng.uniform(2.5, 3.5))
        noise_shape = (height + NOISE_PAD, width + NOISE_PAD, 3)
        self._noise_bank = [
            rng.standard_normal(noise_shape, dtype=np.float32) * np.float32(self.noise_sigma)
            for _ in range(NOISE_BANK_SIZE)
        ]

    # ---- public API -------------------------------------------------------------------------

    def render(self, start_frame: int, count: int) -> np.ndarray:
        """Frames start_frame .. start_frame + count - 1 as a (count, H, W, 3) uint8 RGB array."""
        if start_frame < 0 or count < 0:
            raise ValueError(f"frames must be non-negative, got start={start_frame} count={count}")
        frames = np.empty((count, self.height, self.width, 3), dtype=np.uint8)
        for offset in range(count):
            self._render_into(start_frame + offset, frames[offset])
        return frames

    def frame(self, index: int) -> np.ndarray:
        """One frame, (H, W, 3) uint8 RGB."""
        return self.render(index, 1)[0]

    def light_gain(self, t: float) -> float:
        """Overall brightness factor at time t seconds (slow drift around 1)."""
        angle = 2 * math.pi * t / self.light_period_s + self.light_phase
        return 1.0 + self.light_amplitude * math.sin(angle)

    def walkers_at(self, t: float) -> list[Walker]:
        """The people in the picture at time t seconds (each slot decides its own walk)."""
        if not self.motion:
            return []
        slot = int(t // self.walker_slot_s)
        walkers = []
        for k in (slot - 1, slot):  # a walk that began in the previous slot may still be going
            walker = self._walker_for_slot(k)
            if walker is not None and walker.is_visible(t, self.width):
                walkers.append(walker)
        return walkers

    # ---- drawing ----------------------------------------------------------------------------

    def _render_into(self, index: int, out: np.ndarray) -> None:
        t = index / self.fps
        t_motion = t if self.motion else 0.0  # a static scene stays as it is at t = 0
        out[:] = self.background
        walkers = self.walkers_at(t)
        behind = [w for w in walkers if w.feet_y <= self.belt_bottom]
        in_front = [w for w in walkers if w.feet_y > self.belt_bottom]
        for walker in behind:
            draw_walker(out, walker, t)
        self._draw_belt(out, t_motion)
        draw_wheel(
            out,
            self.wheel_centre,
            self.wheel_radius,
            self.wheel_spokes,
            angle=2 * math.pi * self.wheel_rev_per_s * t_motion,
            colour=self.wheel_colour,
        )
        self._draw_lamps(out, t_motion)
        for walker in in_front:
            draw_walker(out, walker, t)
        self._apply_light_and_noise(index, t, out)

    def _draw_belt(self, out: np.ndarray, t: float) -> None:
        travelled = self.belt_speed * t
        period = self._belt_tile.shape[1]
        shift = period - int(travelled) % period  # texture moves right as the belt runs
        out[self.belt_top : self.belt_bottom] = self._belt_strip[:, shift : shift + self.width]
        for box in self._boxes:
            x = int((box.offset + travelled) % self._box_loop) - box.sprite.shape[1]
            paste_clipped(out, box.sprite, x, self.belt_bottom - box.sprite.shape[0] - box.lift)

    def _draw_lamps(self, out: np.ndarray, t: float) -> None:
        for lamp in self._lamps:
            lit = ((t + lamp.phase_s) % lamp.period_s) < lamp.duty * lamp.period_s
            if lit:
                glow = tuple(int(0.5 * c + 0.5 * 255) for c in lamp.colour)
                cv2.circle(out, (lamp.x, lamp.y), lamp.radius + 2, lamp.colour, -1, cv2.LINE_AA)
                cv2.circle(out, (lamp.x, lamp.y), lamp.radius, glow, -1, cv2.LINE_AA)
            else:
                dim = tuple(int(0.25 * c) for c in lamp.colour)
                cv2.circle(out, (lamp.x, lamp.y), lamp.radius, dim, -1, cv2.LINE_AA)

    def _apply_light_and_noise(self, index: int, t: float, out: np.ndarray) -> None:
        rng = np.random.default_rng([self.seed, 0x401, index])
        bank_index, dy, dx = (
            int(v) for v in rng.integers(0, [NOISE_BANK_SIZE, NOISE_PAD, NOISE_PAD])
        )
        noise = self._noise_bank[bank_index][dy : dy + self.height, dx : dx + self.width]
        # out = saturate(gain * out + noise), one pass in OpenCV
        cv2.addWeighted(out, self.light_gain(t), noise, 1.0, 0.0, dst=out, dtype=cv2.CV_8U)

    def _make_boxes(self, rng: np.random.Generator, unit: float) -> list[Box]:
        belt_height = self.belt_bottom - self.belt_top
        boxes = []
        position = 0.0
        for _ in range(int(rng.integers(3, 7))):
            box_w = int(rng.uniform(28, 60) * unit)
            box_h = int(rng.uniform(22, 48) * unit)
            sprite = make_box_sprite(rng, max(box_w, 6), max(box_h, 6), unit)
            boxes.append(Box(sprite=sprite, offset=position, lift=int(0.25 * belt_height)))
            position += box_w + rng.uniform(40, 160) * unit
        return boxes

    def _walker_for_slot(self, slot: int) -> Walker | None:
        if slot < 0:
            return None
        rng = np.random.default_rng([self.seed, 0x3A1C, slot])
        if rng.random() > self.walker_probability:
            return None
        feet_y = int(rng.uniform(self.floor_top + 0.1 * self.height, 0.98 * self.height))
        # perspective: people nearer the camera (lower feet) look taller
        depth = (feet_y - self.floor_top) / max(1, self.height - self.floor_top)
        height_px = int(self.height * (0.32 + 0.3 * depth))
        speed = float(rng.uniform(0.9, 1.6) * height_px / 1.75)  # ~1.2 m/s for a 1.75 m person
        crossing_s = (self.width + height_px) / speed
        start_s = slot * self.walker_slot_s + rng.uniform(0, max(0.0, self.walker_slot_s - 2))
        return Walker(
            start_s=float(start_s),
            duration_s=float(crossing_s),
            direction=int(rng.choice([-1, 1])),
            speed=speed,
            feet_y=feet_y,
            height_px=height_px,
            vest=tuple(int(c) for c in rng.choice(_VEST_COLOURS)),
            trousers=tuple(int(c) for c in rng.integers(20, 80, size=3)),
            helmet=tuple(int(c) for c in rng.choice(_HELMET_COLOURS)),
            skin=tuple(int(c) for c in rng.choice(_SKIN_COLOURS)),
            step_hz=float(rng.uniform(0.8, 1.1)),
        )


_LAMP_COLOURS = np.array([(255, 40, 30), (40, 230, 60), (255, 170, 0), (40, 120, 255)])
_VEST_COLOURS = np.array([(230, 255, 40), (255, 140, 20), (255, 90, 30)])
_HELMET_COLOURS = np.array([(245, 245, 240), (250, 210, 30), (30, 90, 220)])
_SKIN_COLOURS = np.array([(230, 190, 160), (200, 150, 110), (150, 100, 70), (100, 70, 50)])
