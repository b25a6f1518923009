"""`gapfill report`: the pilot's figures (footage lost and recovered, defects by kind, reviews,
review turnaround, compute time, model quality) as an HTML page with PNG plots and a CSV.

queries (catalog rows) -> figures (arithmetic) -> plots, csvfile, render (files) -> build (the
folder, written atomically) -> commands (the CLI). quality defines the model card's quality.json.
"""
