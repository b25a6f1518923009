"""Merging: overlapping or touching spans become one defect span, so one repair covers them.

The merged span takes the most severe kind of its parts (spans.SEVERITY) and that part's
detector; every part is listed in its figures, so nothing a detector saw is lost.
"""

from __future__ import annotations

from gapfill.detect.spans import Span, severity


def merge_spans(spans: list[Span], tolerance: float = 1e-6) -> list[Span]:
    """Merge spans whose time ranges overlap or touch (a gap of at most `tolerance` seconds)."""
    ordered = sorted(spans, key=lambda s: (s.start, s.end))
    groups: list[list[Span]] = []
    for span in ordered:
        if groups and span.start <= max(s.end for s in groups[-1]) + tolerance:
            groups[-1].append(span)
        else:
            groups.append([span])
    return [_combine(group) for group in groups]


def _combine(group: list[Span]) -> Span:
    if len(group) == 1:
        return group[0]
    main = min(group, key=lambda s: (severity(s.kind), s.start))
    frame_starts = [s.frame_start for s in group if s.frame_start is not None]
    frame_ends = [s.frame_end for s in group if s.frame_end is not None]
    figures = dict(main.figures)
    figures["merged"] = [
        {
            "kind": s.kind,
            "detector": s.detector,
            "start": s.start,
            "end": s.end,
            "frame_start": s.frame_start,
            "frame_end": s.frame_end,
            **s.figures,
        }
        for s in group
    ]
    return Span(
        kind=main.kind,
        start=min(s.start for s in group),
        end=max(s.end for s in group),
        frame_start=min(frame_starts) if frame_starts else None,
        frame_end=max(frame_ends) if frame_ends else None,
        detector=main.detector,
        figures=figures,
    )
