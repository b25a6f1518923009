"""The capacity model (docs/capacity.md, written by benchmarks/capacity_doc.py) and the site
simulation behind it (benchmarks/site_simulation.py): a tiny night through the real PostgreSQL
queue must do every job exactly once and report figures that add up; the document's generated
tables must equal what the files in benchmarks/results/ give today, so the document cannot drift
from the measurements."""

from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path

import pytest
from pgserver import PostgresServer
from sqlalchemy import select

from gapfill.catalog.db import Catalog
from gapfill.catalog.models import RepairJob

ROOT = Path(__file__).resolve().parent.parent
sys.path.append(str(ROOT / "benchmarks"))  # appended: its scan.py etc. must shadow nothing

import capacity_doc as doc  # noqa: E402
import site_simulation as sim  # noqa: E402

_names = itertools.count()


def test_the_paper_formulas() -> None:
    assert doc.footage_per_night(500, 24, 0.005) == pytest.approx(216_000)
    # One worker at 4.44 footage s/s for 8 h fills 127,872 s; a camera loses 432 s a day.
    assert doc.cameras_per_worker(4.44, 8, 24, 0.005) == pytest.approx(127_872 / 432)
    assert doc.workers_needed(500, 4.44, 8, 24, 0.005) == 2
    assert doc.workers_needed(296, 4.44, 8, 24, 0.005) == 1  # 296 cameras need 127,872 s: fits


def test_defect_mix_and_night_plan() -> None:
    mix = sim.synth_defect_mix(samples=50)
    assert set(mix.weights) == set(mix.lengths)
    assert mix.lengths["missing_segment"] == [10.0] * 50  # a whole 10 s segment
    night = sim.plan_night(3, 2, 0.01, mix)
    for camera in range(3):
        mine = [d for d in night if d.camera == camera]
        # Exactly hours x 3600 x loss seconds lost per camera, in spans that do not overlap.
        assert sum(d.seconds for d in mine) == pytest.approx(2 * 3600 * 0.01, abs=0.05)
        assert all(a.start_s + a.seconds <= b.start_s for a, b in itertools.pairwise(mine))


@pytest.mark.postgres
def test_tiny_night_through_the_real_queue(pg_server: PostgresServer) -> None:
    """5 cameras, 2 workers, compressed 50x: one window too short for the night (backlog left),
    one long enough (everything done); every job done exactly once; the figures add up."""
    night = sim.plan_night(5, 2, 0.01, sim.synth_defect_mix(samples=50))
    footage = sum(d.seconds for d in night)  # 5 x 72 s
    template, _ = sim.prepare_night(pg_server, f"cap_{os.getpid()}_{next(_names)}", night)
    speed, workers = 4.44, 2

    for window_s, should_fit in ((20.0, False), (120.0, True)):
        url = sim.clone_database(pg_server, template, f"cap_{os.getpid()}_{next(_names)}")
        result = sim.run_night(url, workers, speed, window_s, compress=50, timeout=60)

        assert result.queued == len(night)
        assert result.footage_s == pytest.approx(footage, abs=0.01)
        # No job done twice, and the queue agrees with what the workers say they did.
        assert len(result.completed) == len(set(result.completed))
        catalog = Catalog(url)
        try:
            with catalog.session() as session:
                done = session.execute(
                    select(RepairJob.id, RepairJob.attempts).where(RepairJob.state == "done")
                ).all()
        finally:
            catalog.dispose()
        assert sorted(job_id for job_id, _ in done) == sorted(result.completed)
        assert all(attempts == 1 for _, attempts in done)
        assert result.db_states["running"] == 0
        assert result.db_states["queued"] == result.backlog
        assert sum(result.db_states.values()) == result.queued
        # Every queued job is done in the window, done after it, or still queued.
        assert result.done_in_window + result.overrun + result.backlog == result.queued
        assert result.overrun <= workers  # only a job claimed before the close may finish late
        assert 0 < result.utilisation <= 1
        assert result.fits is should_fit

        capacity = workers * speed * window_s
        if should_fit:
            assert result.backlog == 0 and result.footage_done_s == pytest.approx(footage, abs=0.1)
            assert result.utilisation == pytest.approx(footage / speed / (workers * window_s), 0.1)
        else:
            # Paper: the workers fill `capacity` seconds. The simulation may fall short by the
            # jobs cut off at the close (at most one 10 s defect per worker) and by the queue's
            # own time, charged at full length (a few ms a job).
            assert result.backlog > 0
            assert capacity - workers * 10 - 0.1 * capacity <= result.footage_done_s <= capacity


def test_capacity_doc_matches_the_benchmark_results() -> None:
    """docs/capacity.md's generated section is exactly what benchmarks/results/ gives; if this
    fails after a benchmark was rerun: .venv/bin/python benchmarks/capacity_doc.py"""
    text = doc.DOC.read_text(encoding="utf-8")
    assert doc.doc_section(text) == doc.capacity_section(doc.RESULTS)


def test_capacity_doc_cites_the_lines_it_quotes() -> None:
    """Each figure read from a results file is on the line the document cites for it."""
    fill = doc.read_fill_speed()
    assert f"{fill.value:g}" in doc._lines(doc.RESULTS, fill.file)[fill.line - 1]
    scan = doc.read_scan()
    line = doc._lines(doc.RESULTS, "scan.txt")[scan.seconds.line - 1]
    assert f"scan {scan.seconds.value:.2f} s" in line
    rows, _ = doc.read_queue_throughput()
    for _, rate in rows:
        assert f"{rate.value:.1f}" in doc._lines(doc.RESULTS, rate.file)[rate.line - 1]
