"""The fill pipeline: from real footage around a hole to the predicted frames.

fill_gap (the library call) shrinks the context, builds the first guess (first_guess: the
classical fillers of baselines, motion_fill and periodic), runs the segment loop (generate) on an
inference backend of gapfill.runtime and composes the result at the source size (compose).
fill_file fills the holes of a video file; metrics measures fills.
"""
