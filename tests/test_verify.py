"""`gapfill verify` detects every kind of tampering an auditor worries about, naming what
changed: a flipped byte in an output, an edited or deleted provenance row, an edited catalog
row, a replaced model file, an edited original, a missing sidecar. Runs on SQLite and
PostgreSQL (the `catalog` fixture)."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer
from sqlalchemy import delete, select, update
from test_c2pa import flip_byte
from test_output import FPS, scene
from typer.testing import CliRunner

from gapfill.catalog.db import Catalog
from gapfill.catalog.event_names import CLIP_SUBJECT, REPAIR_ACTION
from gapfill.catalog.models import (
    Camera,
    Defect,
    Model,
    ProvenanceEvent,
    Recording,
    SyntheticClip,
    SyntheticSpan,
    User,
)
from gapfill.config import Settings
from gapfill.errors import UserError
from gapfill.media.probe import sha256_file
from gapfill.provenance import commands
from gapfill.provenance.c2pa_sign import C2paSigner
from gapfill.provenance.chain import append_event
from gapfill.provenance.facts import (
    ClipProvenance,
    ComputeSeconds,
    InputSegment,
    new_provenance_id,
    ranges_at,
    repair_event_payload,
)
from gapfill.provenance.keys import init_keys
from gapfill.provenance.sidecar import sidecar_path, write_sidecar
from gapfill.provenance.verify import verify
from gapfill.repair.output import write_flagged_clip

T0 = dt.datetime(2026, 1, 5, 7, 0, tzinfo=dt.UTC)


@dataclass
class Repaired:
    clip_path: Path
    clip_id: int
    provenance_id: str
    originals: list[Path]
    model_path: Path


def make_settings(catalog: Catalog, root: Path) -> Settings:
    settings = Settings(data_dir=root / "data", database_url=catalog.url)
    if not (settings.effective_keys_dir / "signer.pem").exists():
        init_keys(settings)
    return settings


def make_repaired_clip(
    catalog: Catalog,
    settings: Settings,
    root: Path,
    camera_name: str = "press-01",
    start: dt.datetime = T0,
    ranges: tuple[tuple[int, int], ...] = ((10, 18),),
    frames: int = 30,
    reviewer: str | None = None,
    compute: ComputeSeconds | None = None,
) -> Repaired:
    """What the repair orchestration does, in the order that keeps a crash harmless: originals
    ingested and recorded, the signed clip and sidecar written, then the clip rows and the
    repair event committed in one transaction. Without `compute`, the clip is one made before
    repairs recorded their timings (migration 0003)."""
    root = root / camera_name
    (root / "rec").mkdir(parents=True)
    (root / "out").mkdir()
    with catalog.session() as session:
        camera = session.scalar(select(Camera).where(Camera.name == camera_name))
        if camera is None:
            camera = Camera(name=camera_name, nominal_fps=FPS)
            session.add(camera)
            session.flush()
        model = session.scalar(select(Model).where(Model.name == "malt-default"))
        if model is None:
            model_path = root.parent / "model.safetensors"
            model_path.write_bytes(os.urandom(4096))
            model = Model(name="malt-default", sha256=sha256_file(model_path), path=str(model_path))
            session.add(model)
            session.flush()
            append_event(
                session, "model", "system:test", "model", model.sha256, {"name": model.name}
            )
        originals, inputs = [], []
        for k in range(2):
            original = root / "rec" / f"{k:02d}.mp4"
            original.write_bytes(os.urandom(2048))
            recording = Recording(
                camera_id=camera.id,
                path=str(original),
                start_time=start + dt.timedelta(seconds=10 * k),
                end_time=start + dt.timedelta(seconds=10 * (k + 1)),
                size_bytes=original.stat().st_size,
                mtime_ns=original.stat().st_mtime_ns,
                sha256=sha256_file(original),
            )
            session.add(recording)
            session.flush()
            append_event(
                session,
                "ingest",
                "system:test",
                "recording",
                recording.id,
                {"path": recording.path, "sha256": recording.sha256},
            )
            originals.append(original)
            inputs.append(InputSegment(str(original), recording.sha256, recording.id))
        defect = Defect(
            camera_id=camera.id,
            kind="missing",
            detector="timeline",
            start_time=start + dt.timedelta(seconds=ranges[0][0] / FPS),
            end_time=start + dt.timedelta(seconds=ranges[-1][1] / FPS),
        )
        session.add(defect)
        session.flush()
        defect_id, camera_id, model_id, model_file = defect.id, camera.id, model.id, model.path

    prov = ClipProvenance(
        provenance_id=new_provenance_id(),
        camera=camera_name,
        clip_start=start,
        clip_end=start + dt.timedelta(seconds=frames / FPS),
        synthetic_ranges=ranges_at(list(ranges), start, FPS),
        model_name="malt-default",
        model_sha256=sha256_file(Path(model_file)),
        inputs=tuple(inputs),
        parameters={"steps": 8, "backend": "torch"},
        seed=42,
        defect_ids=(defect_id,),
    )
    clip_path = root / "out" / f"{camera_name}-{prov.provenance_id[:8]}.mp4"
    written = write_flagged_clip(
        clip_path, scene(frames), FPS, prov, signer=C2paSigner.from_settings(settings)
    )
    write_sidecar(written.path, prov, written.sha256, written.size_bytes)

    with catalog.session() as session:
        reviewer_id = None
        if reviewer is not None:
            user = User(name=reviewer, role="engineer")
            session.add(user)
            session.flush()
            reviewer_id = user.id
        clip = SyntheticClip(
            defect_id=defect_id,
            camera_id=camera_id,
            path=str(written.path),
            sha256=written.sha256,
            size_bytes=written.size_bytes,
            model_id=model_id,
            parameters=prov.parameters,
            seed=prov.seed,
            provenance_id=prov.provenance_id,
            start_time=prov.clip_start,
            end_time=prov.clip_end,
            review_state="approved" if reviewer else "pending",
            reviewed_by=reviewer_id,
            reviewed_at=start + dt.timedelta(days=1) if reviewer else None,
            fill_seconds=compute.fill_seconds if compute else None,
            repair_seconds=compute.repair_seconds if compute else None,
        )
        session.add(clip)
        session.flush()
        for span in prov.synthetic_ranges:
            session.add(
                SyntheticSpan(
                    clip_id=clip.id,
                    camera_id=camera_id,
                    defect_id=defect_id,
                    frame_start=span.frame_start,
                    frame_end=span.frame_end,
                    start_time=span.start_time,
                    end_time=span.end_time,
                )
            )
        append_event(
            session,
            REPAIR_ACTION,
            "system:test",
            CLIP_SUBJECT,
            prov.provenance_id,
            repair_event_payload(
                prov, str(written.path), written.sha256, written.size_bytes, compute
            ),
        )
        clip_id = clip.id
    return Repaired(written.path, clip_id, prov.provenance_id, originals, Path(model_file))


@pytest.fixture
def repaired(catalog: Catalog, tmp_path: Path) -> tuple[Settings, Repaired]:
    settings = make_settings(catalog, tmp_path)
    return settings, make_repaired_clip(catalog, settings, tmp_path)


def lines(catalog: Catalog, settings: Settings, **kwargs: object) -> list[str]:
    report = verify(catalog, settings, **kwargs)  # type: ignore[arg-type]
    return [p.line() for p in report.problems]


def test_untouched_clip_verifies(catalog: Catalog, repaired: tuple[Settings, Repaired]) -> None:
    settings, clip = repaired
    report = verify(catalog, settings, all_clips=True)
    assert report.ok, [p.line() for p in report.problems]
    assert (report.clips_checked, report.recordings_checked, report.models_checked) == (1, 2, 1)
    assert report.chain_events_checked == 4  # model, 2 ingests, repair
    assert verify(catalog, settings, path=clip.clip_path).ok


def test_flipped_byte_in_output(catalog: Catalog, repaired: tuple[Settings, Repaired]) -> None:
    settings, clip = repaired
    flip_byte(clip.clip_path, clip.clip_path.stat().st_size // 2)
    found = lines(catalog, settings, path=clip.clip_path)
    assert any(f"{clip.clip_path}: file changed since it was written" in line for line in found)
    assert any(f"{clip.clip_path}: C2PA manifest Invalid" in line for line in found)


def test_deleted_output(catalog: Catalog, repaired: tuple[Settings, Repaired]) -> None:
    settings, clip = repaired
    clip.clip_path.unlink()
    found = lines(catalog, settings, all_clips=True)
    assert any(line.startswith(f"{clip.clip_path}: file missing") for line in found)


def test_edited_provenance_row(catalog: Catalog, repaired: tuple[Settings, Repaired]) -> None:
    settings, clip = repaired
    with catalog.session() as session:
        event = session.scalar(select(ProvenanceEvent).where(ProvenanceEvent.action == "repair"))
        payload = json.loads(event.payload)
        payload["seed"] = 7
        session.execute(
            update(ProvenanceEvent)
            .where(ProvenanceEvent.seq == event.seq)
            .values(payload=json.dumps(payload))
        )
    found = lines(catalog, settings, all_clips=True)
    assert (
        f"provenance chain: event 4: row edited: repair {CLIP_SUBJECT} {clip.provenance_id} "
        "no longer matches its hash" in found
    )
    assert any("parameters or seed differ" in line for line in found)


def test_edited_compute_timing(catalog: Catalog, tmp_path: Path) -> None:
    """A clip's timings are in its repair event too: editing the row's is detected, and a clip
    from before they were recorded (no timings anywhere, as in `repaired`) verifies."""
    settings = make_settings(catalog, tmp_path)
    timed = ComputeSeconds(fill_seconds=0.123456, repair_seconds=1.5)
    clip = make_repaired_clip(catalog, settings, tmp_path, compute=timed)
    assert lines(catalog, settings, all_clips=True) == []
    with catalog.session() as session:
        session.execute(
            update(SyntheticClip).where(SyntheticClip.id == clip.clip_id).values(repair_seconds=0.5)
        )
    found = lines(catalog, settings, all_clips=True)
    assert len(found) == 1, found
    assert found[0].startswith(f"synthetic_clips row {clip.clip_id}: compute timings")
    assert "(row edited)" in found[0]


@pytest.mark.parametrize("seq", [2, 4])
def test_deleted_provenance_row(
    catalog: Catalog, repaired: tuple[Settings, Repaired], seq: int
) -> None:
    settings, clip = repaired
    with catalog.session() as session:
        session.execute(delete(ProvenanceEvent).where(ProvenanceEvent.seq == seq))
    found = lines(catalog, settings, all_clips=True)
    if seq == 2:  # in the middle: the chain shows the hole
        assert "provenance chain: event 2: events 2..2 deleted" in found
    else:  # the last event: only the clip that lost its record shows it
        assert any(
            f"{clip.clip_path}: no repair provenance event for provenance {clip.provenance_id}"
            in line
            for line in found
        )


def test_edited_clip_and_span_rows(catalog: Catalog, repaired: tuple[Settings, Repaired]) -> None:
    settings, clip = repaired
    with catalog.session() as session:
        session.execute(
            update(SyntheticSpan).where(SyntheticSpan.clip_id == clip.clip_id).values(frame_end=12)
        )
    found = lines(catalog, settings, all_clips=True)
    assert any(
        line.startswith(f"synthetic_spans of clip {clip.clip_id}: frame ranges") for line in found
    )
    assert any("C2PA manifest's synthetic ranges differ from the catalog" in x for x in found)


def test_deleted_clip_row(catalog: Catalog, repaired: tuple[Settings, Repaired]) -> None:
    settings, clip = repaired
    with catalog.session() as session:
        session.execute(delete(SyntheticSpan).where(SyntheticSpan.clip_id == clip.clip_id))
        session.execute(delete(SyntheticClip).where(SyntheticClip.id == clip.clip_id))
    found = lines(catalog, settings, all_clips=True)
    assert any(
        f"synthetic_clips row for provenance {clip.provenance_id} deleted" in x for x in found
    )
    found = lines(catalog, settings, path=clip.clip_path, all_clips=False)
    assert any(f"no synthetic_clips row for provenance {clip.provenance_id}" in x for x in found)


def test_replaced_model_file(catalog: Catalog, repaired: tuple[Settings, Repaired]) -> None:
    settings, clip = repaired
    clip.model_path.write_bytes(os.urandom(4096))
    found = lines(catalog, settings, all_clips=True)
    assert any(
        line.startswith(f"model malt-default ({clip.model_path}): model file replaced")
        for line in found
    )


def test_edited_original(catalog: Catalog, repaired: tuple[Settings, Repaired]) -> None:
    settings, clip = repaired
    original = clip.originals[1]
    data = bytearray(original.read_bytes())
    data[100] ^= 0xFF
    original.write_bytes(bytes(data))
    found = lines(catalog, settings, all_clips=True)
    assert len(found) == 1
    assert found[0].startswith(f"original {original} (recording ")
    assert "original edited since ingest" in found[0]


def test_missing_sidecar(catalog: Catalog, repaired: tuple[Settings, Repaired]) -> None:
    settings, clip = repaired
    sidecar_path(clip.clip_path).unlink()
    assert lines(catalog, settings, all_clips=True) == [
        f"{sidecar_path(clip.clip_path)}: sidecar missing"
    ]


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command("verify")(commands.verify)
    app.command("noop")(lambda: None)  # keeps `verify` a named subcommand
    return app


def test_verify_command(
    catalog: Catalog, repaired: tuple[Settings, Repaired], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, clip = repaired
    monkeypatch.setenv("GAPFILL_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("GAPFILL_DATABASE_URL", catalog.url)
    runner = CliRunner()
    result = runner.invoke(_cli(), ["verify", "--all"])
    assert result.exit_code == 0, result.output
    assert "1 clips, 2 originals, 1 models, 4 provenance events checked: all verified" in (
        result.stdout
    )

    flip_byte(clip.clip_path, 2000)
    result = runner.invoke(_cli(), ["verify", str(clip.clip_path), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert not report["ok"]
    assert {p["subject"] for p in report["problems"]} == {str(clip.clip_path)}

    result = runner.invoke(_cli(), ["verify"])
    assert isinstance(result.exception, UserError)


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """`gapfill ARGS` through the console script's entry point: exit status, stdout, stderr."""
    from gapfill.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(args)
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), captured.out, captured.err


@pytest.mark.parametrize("spelling", ["relative", "dotdot", "symlink"])
def test_verify_command_finds_the_clip_however_its_path_is_spelled(
    catalog: Catalog,
    repaired: tuple[Settings, Repaired],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    spelling: str,
) -> None:
    settings, clip = repaired
    monkeypatch.setenv("GAPFILL_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("GAPFILL_DATABASE_URL", catalog.url)
    out = clip.clip_path.parent
    monkeypatch.chdir(out.parent)
    (out.parent / "link").symlink_to(out, target_is_directory=True)
    given = {
        "relative": f"{out.name}/../{out.name}/{clip.clip_path.name}",
        "dotdot": str(out / ".." / out.name / clip.clip_path.name),
        "symlink": f"link/{clip.clip_path.name}",
    }[spelling]
    code, stdout, stderr = run_cli(["verify", given], capsys)
    assert (code, stderr) == (0, ""), stderr
    assert "1 clips, 2 originals, 1 models, 4 provenance events checked: all verified" in stdout

    clip.clip_path.unlink()  # still the catalogued clip, now reported as missing
    code, _stdout, stderr = run_cli(["verify", given], capsys)
    assert code == 1
    assert stderr.startswith(f"FAIL {clip.clip_path}: file missing"), stderr


def test_verify_command_matches_a_clip_catalogued_through_a_symlink(
    catalog: Catalog,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The data folder configured through a symlink, the clip named by its real path."""
    (tmp_path / "disk").mkdir()
    (tmp_path / "data-link").symlink_to(tmp_path / "disk", target_is_directory=True)
    settings = make_settings(catalog, tmp_path)
    clip = make_repaired_clip(catalog, settings, tmp_path / "data-link")
    monkeypatch.setenv("GAPFILL_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("GAPFILL_DATABASE_URL", catalog.url)
    code, stdout, stderr = run_cli(["verify", str(clip.clip_path.resolve())], capsys)
    assert (code, stderr) == (0, ""), stderr
    assert "checked: all verified" in stdout


def _set(key: str, value: object) -> Callable[[dict], None]:
    return lambda document: document.__setitem__(key, value)


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (None, "sidecar unreadable: "),  # truncated JSON
        (_set("synthetic_ranges", 5), "malformed sidecar: synthetic_ranges is not a list"),
        (
            lambda d: d["synthetic_ranges"][0].__setitem__("frame_start", "10"),
            "malformed sidecar: synthetic_ranges[0].frame_start is not an integer",
        ),
        (_set("output", "x.mp4"), "malformed sidecar: output is not an object"),
        (_set("inputs", [1, 2]), "malformed sidecar: inputs[0] is not an object"),
        (lambda d: d.pop("output"), "malformed sidecar: output missing"),
    ],
)
def test_verify_command_reports_a_malformed_sidecar_in_one_line(
    catalog: Catalog,
    repaired: tuple[Settings, Repaired],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    edit: Callable[[dict], None] | None,
    problem: str,
) -> None:
    settings, clip = repaired
    monkeypatch.setenv("GAPFILL_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("GAPFILL_DATABASE_URL", catalog.url)
    sidecar = sidecar_path(clip.clip_path)
    if edit is None:
        text = sidecar.read_text()[:100]
    else:
        document = json.loads(sidecar.read_text())
        edit(document)
        text = json.dumps(document)
    sidecar.write_text(text)
    for args in (["verify", str(clip.clip_path)], ["verify", "--all"]):
        code, _stdout, stderr = run_cli(args, capsys)
        lines = stderr.splitlines()
        assert code == 1 and len(lines) == 1, stderr
        assert lines[0].startswith(f"FAIL {sidecar}: {problem}"), stderr
    # Without its repair event, verify falls back on the sidecar for the inputs it checks.
    with catalog.session() as session:
        session.execute(delete(ProvenanceEvent).where(ProvenanceEvent.action == REPAIR_ACTION))
    code, _stdout, stderr = run_cli(["verify", "--all"], capsys)
    assert code == 1 and all(line.startswith("FAIL ") for line in stderr.splitlines()), stderr
    assert sidecar.read_text() == text
