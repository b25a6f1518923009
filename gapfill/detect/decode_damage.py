"""Decode damage: frames the decoder could not decode cleanly, and everything that depends on them.

A damaged frame poisons every frame predicted from it, up to the next keyframe that decodes
cleanly: that whole stretch is one `decode_error` span. Damage is seen two ways:
- the frame-level flag FFmpeg sets when it had to conceal errors (exact: it names the frame);
- FFmpeg's error messages, logged per packet. With frame threading a message can arrive up to
  `thread_count` packets after the packet that caused it, so a message with no flagged frame in
  that window marks the earliest frame of the window (the conservative edge); a message in a
  window where a packet produced no frame at all is that packet's loss (a file cut inside its last
  frame), which the timeline reports as missing.
"""

from __future__ import annotations

import os

import numpy as np

from gapfill.detect.features import FrameFeatures
from gapfill.detect.spans import Span, runs
from gapfill.detect.timeline import FileTimeline
from gapfill.media.decode import DecodeResult


def damaged_frames(features: FrameFeatures, result: DecodeResult) -> np.ndarray:
    """(N,) bool: frames that did not decode cleanly (flagged, or blamed by a logged error)."""
    bad = ~features.decode_ok
    if not len(features):
        return bad
    index_of_pts = {int(p): i for i, p in enumerate(features.pts.tolist())}
    # FFmpeg's automatic thread count (0 here) is one more than the cores.
    delay = result.thread_count or (os.cpu_count() or 1) + 1
    packets = result.packets
    for k, packet in enumerate(packets):
        if not packet.errors:
            continue
        window = [index_of_pts.get(p.pts) for p in packets[max(0, k - delay) : k + 1] if p.size]
        if any(i is None for i in window):
            continue  # a lost packet: see the module docstring
        if window and not bad[window].any():
            bad[min(window)] = True
    return bad


def detect_decode_damage(
    features: FrameFeatures, timeline: FileTimeline, result: DecodeResult
) -> list[Span]:
    """One span per damaged stretch, from the first damaged frame to the next clean keyframe."""
    bad = damaged_frames(features, result)
    clean_keyframe = features.keyframe & ~bad
    # Every frame from a damaged one up to (not including) the next clean keyframe is damaged.
    poisoned = np.zeros(len(features), bool)
    damaged = False
    for i in range(len(features)):
        if bad[i]:
            damaged = True
        elif clean_keyframe[i]:
            damaged = False
        poisoned[i] = damaged
    spans = []
    for a, b in runs(poisoned):
        pts_in_span = set(features.pts[a:b].tolist())
        messages = {m for p in result.packets if p.pts in pts_in_span for m in p.errors}
        spans.append(
            timeline.span(
                "decode_error",
                "decode.damage",
                a,
                b - 1,
                damaged_frames=int(bad[a:b].sum()),
                poisoned_frames=b - a,
                ends_at="keyframe" if b < len(features) else "end of file",
                messages=sorted(messages)[:5],
            )
        )
    return spans
