"""`gapfill audit`: exactly the synthetic frame ranges in a camera's window, with model, inputs,
parameters, reviewer and review state, as a table, JSON or CSV. On SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest
import typer
from sqlalchemy import delete
from test_output import FPS
from test_verify import T0, make_repaired_clip, make_settings, run_cli
from typer.testing import CliRunner

from gapfill.catalog.db import Catalog
from gapfill.catalog.models import ProvenanceEvent
from gapfill.errors import UserError
from gapfill.provenance import commands
from gapfill.provenance.audit import AUDIT_COLUMNS, audit_rows
from gapfill.provenance.sidecar import sidecar_path

LATER = T0 + dt.timedelta(hours=2)


@pytest.fixture
def two_cameras(catalog: Catalog, tmp_path: Path) -> dict[str, object]:
    settings = make_settings(catalog, tmp_path)
    press_early = make_repaired_clip(
        catalog, settings, tmp_path / "a", "press-01", T0, ((10, 18), (22, 25)), reviewer="ana"
    )
    press_late = make_repaired_clip(catalog, settings, tmp_path / "b", "press-01", LATER)
    lathe = make_repaired_clip(catalog, settings, tmp_path / "c", "lathe-02", T0, ((3, 6),))
    return {"settings": settings, "early": press_early, "late": press_late, "lathe": lathe}


def test_window_selects_exactly_the_overlapping_ranges(
    catalog: Catalog, two_cameras: dict[str, object]
) -> None:
    early = two_cameras["early"]
    with catalog.session() as session:
        rows = audit_rows(session, "press-01", T0, T0 + dt.timedelta(hours=1))
        everything = audit_rows(session, None, None, None)
        # A window that starts inside the second range of the early clip, and ends before
        # the late clip.
        inside = audit_rows(session, "press-01", T0 + dt.timedelta(seconds=23 / FPS), LATER)
    assert [(r["frame_start"], r["frame_end"]) for r in rows] == [(10, 18), (22, 25)]
    assert [(r["frame_start"], r["frame_end"]) for r in inside] == [(22, 25)]
    assert len(everything) == 4
    assert [r["camera"] for r in everything] == ["lathe-02", "press-01", "press-01", "press-01"]

    first = rows[0]
    assert first["clip_path"] == str(early.clip_path)
    assert first["provenance_id"] == early.provenance_id
    assert first["start_time"] == T0 + dt.timedelta(seconds=10 / FPS)
    assert first["frames"] == 8
    assert first["model_name"] == "malt-default"
    assert first["review_state"] == "approved" and first["reviewer"] == "ana"
    assert first["parameters"] == {"steps": 8, "backend": "torch"} and first["seed"] == 42
    assert first["model_change"] is None  # these clips' parameters predate the verdict
    assert [i["path"] for i in first["inputs"]] == [str(p) for p in early.originals]


def test_inputs_fall_back_to_the_sidecar(catalog: Catalog, two_cameras: dict[str, object]) -> None:
    with catalog.session() as session:
        session.execute(delete(ProvenanceEvent).where(ProvenanceEvent.action == "repair"))
    with catalog.session() as session:
        rows = audit_rows(session, "lathe-02", None, None)
    assert [i["path"] for i in rows[0]["inputs"]] == [
        str(p) for p in two_cameras["lathe"].originals
    ]


def test_unknown_camera(catalog: Catalog, two_cameras: dict[str, object]) -> None:
    with catalog.session() as session, pytest.raises(UserError, match="no camera named 'x'"):
        audit_rows(session, "x", None, None)


def test_audit_command_json_and_csv(
    catalog: Catalog, two_cameras: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GAPFILL_DATA_DIR", str(two_cameras["settings"].data_dir))
    monkeypatch.setenv("GAPFILL_DATABASE_URL", catalog.url)
    app = typer.Typer()
    app.command("audit")(commands.audit)
    app.command("noop")(lambda: None)
    runner = CliRunner()
    window = ["--camera", "press-01", "--from", "2026-01-05T06:00:00Z", "--to", "2026-01-05T08:00Z"]

    result = runner.invoke(app, ["audit", *window])
    assert result.exit_code == 0, result.output
    assert "ana" in result.stdout  # the reviewer column (narrow test terminal truncates others)

    result = runner.invoke(app, ["audit", *window, "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(r["frame_start"], r["frame_end"]) for r in rows] == [(10, 18), (22, 25)]
    assert rows[0]["reviewer"] == "ana" and len(rows[0]["inputs"]) == 2

    result = runner.invoke(app, ["audit", *window, "--csv"])
    assert result.exit_code == 0, result.output
    table = list(csv.reader(io.StringIO(result.stdout)))
    assert tuple(table[0]) == AUDIT_COLUMNS
    assert len(table) == 3
    record = dict(zip(AUDIT_COLUMNS, table[1], strict=True))
    assert record["review_state"] == "approved" and record["frames"] == "8"
    assert record["inputs"].count("=") == 2 and json.loads(record["parameters"])["steps"] == 8

    result = runner.invoke(app, ["audit", "--from", "2026-01-05T08:00Z", "--to", "2026-01-05"])
    assert isinstance(result.exception, UserError)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"format": "gapfill.provenance/1", "inp', "sidecar unreadable: "),
        (None, "malformed sidecar: inputs[0] is not an object"),
    ],
)
def test_audit_command_names_an_unusable_sidecar_in_one_line(
    catalog: Catalog,
    two_cameras: dict[str, object],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    text: str | None,
    problem: str,
) -> None:
    """The inputs of a clip whose repair event is gone come from its sidecar: a broken one is
    named, the rest of the listing still printed, and the exit status says it is incomplete."""
    monkeypatch.setenv("GAPFILL_DATA_DIR", str(two_cameras["settings"].data_dir))
    monkeypatch.setenv("GAPFILL_DATABASE_URL", catalog.url)
    with catalog.session() as session:
        session.execute(delete(ProvenanceEvent).where(ProvenanceEvent.action == "repair"))
    lathe = two_cameras["lathe"]
    sidecar = sidecar_path(lathe.clip_path)
    if text is None:
        document = json.loads(sidecar.read_text())
        document["inputs"] = [1, 2]
        text = json.dumps(document)
    sidecar.write_text(text)
    for fmt in ([], ["--json"], ["--csv"]):
        code, stdout, stderr = run_cli(["audit", *fmt], capsys)
        lines = stderr.splitlines()
        assert code == 1 and len(lines) == 1, stderr
        assert lines[0].startswith(f"error: {sidecar}: {problem}"), stderr
        assert lines[0].endswith(f"(clip {lathe.clip_id} listed without its inputs)")
        if fmt == ["--json"]:
            rows = json.loads(stdout)
            assert len(rows) == 4
            assert [len(r["inputs"]) for r in rows] == [0, 2, 2, 2]  # lathe-02 first
    assert sidecar.read_text() == text
