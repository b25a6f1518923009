"""What the timeline check (gapfill.detect.timeline) and the catalog's own gap queries share.

A hole between two recordings is found by the scan and by Frigate ingest (whose query lives in
gapfill.catalog.queries.frigate): each must recognise the other's defects as the same ones, so the
detector's name and the frame interval assumed without a frame rate are spelled once, here.
"""

# The `defects.detector` of a hole between recordings: a later scan recomputes these very spans
# from the same recordings and must find them already there, not add them twice.
RECORDING_GAP_DETECTOR = "timeline.recording_gap"
# Seconds between frames, only when a camera states no frame rate at all.
DEFAULT_INTERVAL = 0.1
