"""Every classical filler by name: what the benchmarks and tests run MALT against.

The fillers themselves live where their parts do (gapfill.fill.baselines for hold, crossfade,
plate, flow, RIFE and flowplate; gapfill.fill.motion_fill for motion, which builds on
baselines.FirstGuess); this registry sits above both so that neither imports the other back.
"""

from __future__ import annotations

from gapfill.fill.baselines import (
    Filler,
    background_plate,
    crossfade,
    flow_plate,
    hold,
    optical_flow,
    rife,
)
from gapfill.fill.motion_fill import motion

BASELINES: dict[str, Filler] = {
    "hold": hold,
    "crossfade": crossfade,
    "plate": background_plate,
    "flow": optical_flow,
    "rife": rife,
    "flowplate": flow_plate,
    "motion": motion,
}
