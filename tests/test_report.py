"""`gapfill report` on a catalog built by the real demo path (synth, ingest, scan, repair) and
reviewed through the real review code: every figure in the CSV is checked against SQL written
here, straight on the SQLite file, independent of the report's own queries. Also: valid PNGs that
the HTML shows, an empty catalog, a model without quality.json, bad options, atomic output."""

from __future__ import annotations

import csv
import datetime as dt
import re
import sqlite3
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import select
from test_output import FPS
from test_verify import T0, make_repaired_clip, make_settings
from typer.testing import CliRunner

from gapfill.api.review import review_clip
from gapfill.api.tokens import create_user, principal_for_token
from gapfill.catalog.db import Catalog
from gapfill.catalog.models import SyntheticClip
from gapfill.catalog.queries.report import ClipRow, DefectRow, SpanRow, Window
from gapfill.cli import app, main
from gapfill.network.config import default_checkpoint_dir
from gapfill.report import render
from gapfill.report.build import MARKER, gather
from gapfill.report.figures import compute, defects_by_kind, footage
from gapfill.report.quality import QUALITY_FILE, read_quality, rows_from_summary, write_quality


def run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def read_figures(folder: Path) -> dict[tuple[str, str, str, str, str], float]:
    with (folder / "figures.csv").open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["figure", "camera", "day", "item", "measure", "value"]
    return {tuple(row[:5]): float(row[5]) for row in rows[1:]}  # type: ignore[misc]


def check_images(folder: Path) -> set[str]:
    """Every PNG in the folder decodes, and the page shows exactly those files."""
    html = (folder / "index.html").read_text()
    shown = set(re.findall(r'<img src="([^"]+)"', html))
    assert shown == {p.name for p in folder.glob("*.png")}
    for name in shown:
        image = cv2.imread(str(folder / name))
        assert image is not None and image.shape[0] > 100 and image.shape[1] > 100, name
    assert "http://" not in html and "https://" not in html  # self-contained: nothing fetched
    return shown


@pytest.fixture
def demo_site(tmp_path: Path, tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The demo's catalog (2 cameras, 2 repaired defects, each clip timed by its own repair),
    one clip approved and one rejected hours after it was made."""
    monkeypatch.setenv("GAPFILL_MODEL_PATH", str(tiny_checkpoint))
    folder = tmp_path / "demo"
    run("demo", "--dir", str(folder), "--minutes", "0.5", "--cameras", "2")
    monkeypatch.setenv("GAPFILL_DATA_DIR", str(folder / "data"))
    monkeypatch.setenv("GAPFILL_OUTPUT_DIR", str(folder / "synthetic"))
    catalog = Catalog(f"sqlite:///{folder / 'data' / 'catalog.sqlite3'}")
    try:
        with catalog.session() as session:
            clips = list(session.scalars(select(SyntheticClip).order_by(SyntheticClip.id)))
            assert len(clips) >= 2, "the demo's seed should give two repaired defects"
            # Made overnight, reviewed in the morning: turnarounds of hours, so the few
            # milliseconds between a review's row and its chain event do not matter.
            for clip, hours in zip(clips, (2, 5), strict=False):
                clip.created_at -= dt.timedelta(hours=hours)
            _user, token = create_user(session, "eng-1", "engineer", "system:test")
            session.flush()
            engineer = principal_for_token(session, token)
        assert engineer is not None
        review_clip(catalog, clips[0].id, "approved", None, engineer)
        review_clip(catalog, clips[1].id, "rejected", "press arm smeared", engineer)
    finally:
        catalog.dispose()
    return folder / "data" / "catalog.sqlite3"


def test_report_figures_match_the_catalog(demo_site: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    printed = run("report", "--out", str(out))
    assert printed.strip() == str(out / "index.html")
    figures = read_figures(out)
    db = sqlite3.connect(demo_site)
    seconds = "(julianday({0}.end_time) - julianday({0}.start_time)) * 86400"

    lost = db.execute(
        f"SELECT c.name, date(d.start_time), SUM({seconds.format('d')}) FROM defects d "
        "JOIN cameras c ON c.id = d.camera_id GROUP BY 1, 2"
    ).fetchall()
    assert lost
    for camera, day, value in lost:
        assert figures[("footage", camera, day, "", "lost_s")] == pytest.approx(value, abs=1e-3)
    recovered = db.execute(
        f"SELECT c.name, date(s.start_time), SUM({seconds.format('s')}) FROM synthetic_spans s "
        "JOIN defects d ON d.id = s.defect_id JOIN cameras c ON c.id = s.camera_id "
        "WHERE d.state = 'repaired' GROUP BY 1, 2"
    ).fetchall()
    assert recovered
    for camera, day, value in recovered:
        got = figures[("footage", camera, day, "", "recovered_s")]
        assert got == pytest.approx(value, abs=1e-3)
    unrepairable = dict.fromkeys(((c, d) for c, d, _ in lost), 0.0)
    for camera, day, value in db.execute(
        f"SELECT c.name, date(d.start_time), SUM({seconds.format('d')}) FROM defects d "
        "JOIN cameras c ON c.id = d.camera_id WHERE d.state = 'unrepairable' GROUP BY 1, 2"
    ):
        unrepairable[(camera, day)] = value
    for (camera, day), value in unrepairable.items():
        got = figures[("footage", camera, day, "", "unrepairable_s")]
        assert got == pytest.approx(value, abs=1e-3)

    kinds = db.execute(
        "SELECT c.name, date(d.start_time), d.kind, COUNT(*) FROM defects d "
        "JOIN cameras c ON c.id = d.camera_id GROUP BY 1, 2, 3"
    ).fetchall()
    assert {k[:3]: k[3] for k in kinds} == {
        (camera, day, kind): value
        for (figure, camera, day, kind, _measure), value in figures.items()
        if figure == "defects"
    }

    states = db.execute(
        "SELECT c.name, s.review_state, COUNT(*) FROM synthetic_clips s "
        "JOIN cameras c ON c.id = s.camera_id GROUP BY 1, 2"
    ).fetchall()
    assert sorted(state for _c, state, _n in states) == ["approved", "rejected"]
    for camera, state, count in states:
        assert figures[("reviews", camera, "", state, "count")] == count
    assert sum(v for k, v in figures.items() if k[0] == "reviews" and k[3] == "pending") == 0

    waits = db.execute(
        "SELECT c.name, (julianday(s.reviewed_at) - julianday(s.created_at)) * 86400 "
        "FROM synthetic_clips s JOIN cameras c ON c.id = s.camera_id "
        "WHERE s.review_state != 'pending'"
    ).fetchall()
    per_camera: dict[str, list[float]] = {"all": [w for _c, w in waits]}
    for camera, wait in waits:
        per_camera.setdefault(camera, []).append(wait)
    for camera, found in per_camera.items():
        median = figures[("turnaround", camera, "", "", "median_s")]
        p90 = figures[("turnaround", camera, "", "", "p90_s")]
        assert median == pytest.approx(float(np.median(found)), abs=0.5)
        assert p90 == pytest.approx(float(np.percentile(found, 90)), abs=0.5)
    assert figures[("turnaround", "all", "", "", "p90_s")] > 4 * 3600

    # Every demo clip measured its own repair; the CSV rounds to 4 decimals.
    costs = db.execute(
        "SELECT c.name, COUNT(*), SUM(s.repair_seconds), SUM(s.fill_seconds), SUM(sp.seconds) "
        "FROM synthetic_clips s JOIN cameras c ON c.id = s.camera_id JOIN ("
        f"  SELECT clip_id, SUM({seconds.format('synthetic_spans')}) AS seconds"
        "   FROM synthetic_spans GROUP BY clip_id"
        ") sp ON sp.clip_id = s.id WHERE s.repair_seconds IS NOT NULL GROUP BY 1"
    ).fetchall()
    assert sum(n for _c, n, *_ in costs) == sum(n for _c, _s, n in states)
    totals = ("all", *(sum(column) for column in list(zip(*costs, strict=True))[1:]))
    for camera, clips, repair, fill, synthesized in [*costs, totals]:
        assert 0 < fill <= repair
        measure = {
            m: v for (f, c, _d, _i, m), v in figures.items() if f == "compute" and c == camera
        }
        assert (measure["timed_clips"], measure["untimed_clips"]) == (clips, 0)
        assert measure["wall_s"] == pytest.approx(repair, abs=1e-4)
        assert measure["fill_s"] == pytest.approx(fill, abs=1e-4)
        assert measure["synthetic_s"] == measure["fill_synthetic_s"]
        assert measure["synthetic_s"] == pytest.approx(synthesized, abs=1e-3)
        for name, spent in (("wall_s_per_synthetic_s", repair), ("fill_s_per_synthetic_s", fill)):
            assert measure[name] == pytest.approx(spent / synthesized, rel=1e-3, abs=1e-4)

    shown = check_images(out)
    assert {"footage.png", "defects.png", "reviews.png", "turnaround.png", "compute.png"} <= shown
    html = (out / "index.html").read_text()
    assert "no quality figures for model" in html  # the tiny test checkpoint has none
    db.close()

    camera = lost[0][0]  # --camera keeps only that camera's rows
    run("report", "--out", str(out), "--camera", camera)
    assert {k[1] for k in read_figures(out) if k[0] != "quality"} <= {camera, "all"}
    run("report", "--out", str(out), "--until", "2000-01-01")  # before any footage
    assert "No data" in (out / "index.html").read_text()


def test_empty_catalog_says_there_is_no_data(tmp_path: Path) -> None:
    run("init")
    out = tmp_path / "empty"
    run("report", "--out", str(out), "--since", "2026-01-01T00:00Z")
    html = (out / "index.html").read_text()
    assert "No data" in html
    assert {k[0] for k in read_figures(out)} == {"quality"}  # the shipped model's card only
    assert check_images(out) == {"quality-1.png"}


def test_model_without_quality_file_is_said_not_failed(
    tmp_path: Path, tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run("init")
    monkeypatch.setenv("GAPFILL_MODEL_PATH", str(tiny_checkpoint))
    run("report", "--out", str(tmp_path / "r"))
    name = tiny_checkpoint.name
    assert f"no quality figures for model {name}" in (tmp_path / "r" / "index.html").read_text()

    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / QUALITY_FILE).write_text('[{"source": "real"}]')
    monkeypatch.setenv("GAPFILL_MODEL_PATH", str(broken))
    run("report", "--out", str(tmp_path / "r"))
    html = (tmp_path / "r" / "index.html").read_text()
    assert "no quality figures for model broken-model" in html


def test_gather_runs_on_both_databases(catalog: Catalog, tmp_path: Path) -> None:
    settings = make_settings(catalog, tmp_path)
    make_repaired_clip(catalog, settings, tmp_path / "clips", ranges=((10, 18),))
    figures = gather(catalog, settings, Window(since=T0, until=T0 + dt.timedelta(hours=1)))
    (row,) = figures.footage
    assert (row.camera, row.day) == ("press-01", T0.date())
    assert row.lost_s == row.open_s == pytest.approx(8 / FPS)  # the defect is still open
    assert figures.defects_by_kind == {("press-01", T0.date(), "missing"): 1}
    assert figures.reviews == {"press-01": {"approved": 0, "rejected": 0, "pending": 1}}
    assert [(c.camera, c.untimed_clips) for c in figures.compute] == [("press-01", 1), ("all", 1)]
    (model,) = figures.quality
    assert model.rows is None and "no quality figures for model malt-default" in str(model.problem)
    later = gather(catalog, settings, Window(since=T0 + dt.timedelta(hours=1)))
    assert not later.has_data


def test_compute_prefers_the_clips_own_timing_and_falls_back_to_its_job() -> None:
    """A clip's own timings win over its job's; a clip from before they were recorded
    (migration 0003) falls back to a single-attempt job, and is untimed without one."""
    made = dt.datetime(2026, 1, 5, 8, tzinfo=dt.UTC)

    def clip(camera: str, seconds: float, fill: float | None, repair: float | None,
             job: tuple[str, int, float] | None) -> ClipRow:  # fmt: skip
        state, attempts, job_seconds = job or (None, None, 0.0)
        return ClipRow(
            clip_id=0, camera=camera, review_state="pending", created_at=made, decided_at=None,
            model_id=None, synthetic_seconds=seconds, fill_seconds=fill, repair_seconds=repair,
            job_state=state, job_attempts=attempts,
            job_started_at=made - dt.timedelta(seconds=job_seconds) if job else None,
            job_finished_at=made if job else None,
        )  # fmt: skip

    clips = [
        clip("a", 2.0, 1.0, 3.0, ("done", 1, 99.0)),  # its own timing, not its job's
        clip("a", 4.0, 0.5, 1.0, None),  # `gapfill repair` after 0003
        clip("b", 1.0, None, None, ("done", 1, 6.0)),  # queue, before 0003: the job's time
        clip("b", 1.0, None, None, ("done", 2, 6.0)),  # retried: backoff in its time, untimed
        clip("b", 1.0, None, None, None),  # `gapfill repair` before 0003: untimed
    ]
    a, b, everything = compute(clips)
    assert (a.camera, a.timed_clips, a.untimed_clips) == ("a", 2, 0)
    assert (a.wall_s, a.synthetic_s, a.wall_per_synthetic_s) == (4.0, 6.0, 4.0 / 6.0)
    assert (a.fill_s, a.fill_synthetic_s, a.fill_per_synthetic_s) == (1.5, 6.0, 0.25)
    assert (b.timed_clips, b.untimed_clips, b.wall_per_synthetic_s) == (1, 2, 6.0)
    assert (b.fill_s, b.fill_per_synthetic_s) == (0.0, None)  # a job times no fill
    assert (everything.camera, everything.timed_clips, everything.untimed_clips) == ("all", 3, 2)
    assert everything.wall_per_synthetic_s == pytest.approx(10.0 / 7.0)
    assert everything.fill_per_synthetic_s == pytest.approx(1.5 / 6.0)


def test_footage_is_split_at_midnight_and_cut_to_the_window() -> None:
    day1 = dt.datetime(2026, 1, 5, 23, 59, 50, tzinfo=dt.UTC)
    defect = DefectRow("cam", "missing", "unrepairable", day1, day1 + dt.timedelta(seconds=30))
    span = SpanRow("cam", day1, day1 + dt.timedelta(seconds=30), "repaired", "rejected")
    rows = footage(Window(), [defect], [span])
    assert [(r.day.day, r.lost_s, r.unrepairable_s, r.rejected_s) for r in rows] == [
        (5, 10.0, 10.0, 10.0),
        (6, 20.0, 20.0, 20.0),
    ]
    window = Window(since=day1 + dt.timedelta(seconds=15))
    (row,) = footage(window, [defect], [])
    assert (row.day.day, row.lost_s) == (6, 15.0)
    assert list(defects_by_kind(window, [defect])) == [("cam", dt.date(2026, 1, 6), "missing")]


def test_shipped_quality_file_and_its_format(tmp_path: Path) -> None:
    rows = read_quality(default_checkpoint_dir())
    assert rows is not None
    malt = {(r.source, r.span_frames) for r in rows if r.filler == "malt"}
    assert {("real", 16), ("synthetic", 64)} <= malt
    means = {"psnr": 24.3, "ssim": 0.85, "sharpness": 0.69, "seam_jump": 0.84, "cases": 6}
    summary = {"synth": {"16": {"malt": means}}}
    write_quality(tmp_path / QUALITY_FILE, rows_from_summary(summary))
    (row,) = read_quality(tmp_path) or []
    assert (row.source, row.span_frames, row.filler, row.psnr) == ("synthetic", 16, "malt", 24.3)


def test_bad_options_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run("init")
    for args, says in (
        (["--since", "yesterday-ish"], "--since: 'yesterday-ish' is not a time"),
        (["--since", "2026-02-01", "--until", "2026-01-01"], "--until"),
        (["--camera", "nope"], "no camera named 'nope'"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(["report", "--out", str(tmp_path / "r"), *args])
        assert exit_info.value.code == 1
        error = capsys.readouterr().err
        assert says in error and error.count("\n") == 1, error
    assert not (tmp_path / "r").exists()
    assert "HTML page" in run("report", "--help")


def test_output_is_atomic_and_never_clobbers_other_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run("init")
    out = tmp_path / "r"
    run("report", "--out", str(out))
    first = (out / "index.html").read_text()

    def broken(*_args: object) -> None:
        raise RuntimeError("disk full, say")

    monkeypatch.setattr(render, "write_html", broken)
    with pytest.raises(SystemExit) as exit_info:
        main(["report", "--out", str(out)])
    assert exit_info.value.code == 2
    assert (out / "index.html").read_text() == first  # the previous report is untouched
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    assert (out / MARKER).is_file()

    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep.txt").write_text("keep me")
    with pytest.raises(SystemExit) as exit_info:
        main(["report", "--out", str(precious)])
    assert exit_info.value.code == 1
    assert "not a gapfill report folder" in capsys.readouterr().err
    assert (precious / "keep.txt").read_text() == "keep me"
