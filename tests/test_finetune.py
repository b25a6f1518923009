"""`gapfill train --finetune --camera C` end to end through the CLI: simulated recordings with a
black span are ingested and scanned, a tiny checkpoint is fine-tuned for two steps on the camera's
good footage, and the child model must be registered (parent, camera, training summary, provenance
event), be the camera's model and make its repairs. Bad input is a one-line error that leaves
nothing registered and no model folder. The main path runs on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select
from test_repair import invoke  # the CLI through typer's runner, output or parsed --json

from gapfill.catalog.db import Catalog, upgrade
from gapfill.catalog.models import Camera, Defect, Model, ProvenanceEvent, Recording, SyntheticClip
from gapfill.cli import main
from gapfill.network.checkpoint import checkpoint_sha256
from gapfill.network.config import MaltConfig, read_config
from gapfill.training import finetune as finetune_module
from gapfill.training.data import RealShot
from gapfill.training.finetune_footage import GUARD_SECONDS, camera_footage, inside, shot_breaks
from gapfill.training.finetune_validation import hold_out

CAMERA = "press-01"
SINCE = dt.datetime(2026, 1, 5, 7, 0, tzinfo=dt.UTC)  # the last 3 of 9 ten-second segments
FINETUNE = ["train", "--finetune", "--camera", CAMERA, "--steps", "2", "--threads", "1"]


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """90 s of one simulated camera (06:59:00-07:00:30 UTC, 10 s segments) with one black span
    in the last segment; written once, only read by the tests."""
    root = tmp_path_factory.mktemp("finetune") / "rec"
    invoke(
        "synth", "--out", str(root), "--cameras", "1", "--minutes", "1.5", "--faults", "black",
        "--width", "96", "--height", "64", "--workers", "1", "--seed", "7",
    )  # fmt: skip
    return root


def catalog_site(
    url: str, recordings: Path, tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> Catalog:
    """A catalog at `url` holding the recordings, scanned, with the tiny checkpoint configured."""
    upgrade(url)
    monkeypatch.setenv("GAPFILL_DATABASE_URL", url)
    monkeypatch.setenv("GAPFILL_MODEL_PATH", str(tiny_checkpoint))
    invoke("keys", "init")
    invoke("ingest", str(recordings), "--json")
    invoke("scan", "--workers", "1", "--json")
    return Catalog(url)


@pytest.fixture
def site(
    catalog_url: str, recordings: Path, tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> Any:
    catalog = catalog_site(catalog_url, recordings, tiny_checkpoint, monkeypatch)
    yield catalog
    catalog.dispose()


@pytest.fixture
def sqlite_site(
    tmp_path: Path, recordings: Path, tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> Any:
    catalog = catalog_site(
        f"sqlite:///{tmp_path / 'catalog.sqlite3'}", recordings, tiny_checkpoint, monkeypatch
    )
    yield catalog
    catalog.dispose()


def model_files() -> list[Path]:
    """Everything under data_dir/models (the tests run in an isolated working directory)."""
    return sorted(Path("data", "models").rglob("*"))


def test_finetune_registers_the_child_and_repairs_use_it(
    site: Catalog, tiny_checkpoint: Path
) -> None:
    out = invoke(*FINETUNE, "--since", SINCE.isoformat())
    assert f"fine-tuned {CAMERA}" in out

    with site.session() as session:
        camera = session.scalar(select(Camera).where(Camera.name == CAMERA))
        assert camera is not None and camera.default_model_id is not None
        child = session.get(Model, camera.default_model_id)
        assert child is not None
        parent = session.scalar(
            select(Model).where(Model.sha256 == checkpoint_sha256(tiny_checkpoint))
        )
        assert parent is not None and child.parent_id == parent.id and child.camera_id == camera.id
        good = session.scalars(
            select(Recording)
            .where(Recording.camera_id == camera.id, Recording.start_time >= SINCE)
            .order_by(Recording.start_time)
        ).all()
        [defect] = session.scalars(select(Defect)).all()
        event = session.scalar(
            select(ProvenanceEvent).where(
                ProvenanceEvent.action == "model", ProvenanceEvent.subject_id == child.sha256
            )
        )
    assert defect.start_time >= SINCE  # the window holds the damaged segment
    assert {r.status for r in good} == {"ok", "damaged"} and len(good) == 3
    summary = child.training_summary
    assert [(r["id"], r["sha256"]) for r in summary["recordings"]] == [
        (r.id, r.sha256) for r in good
    ]
    assert summary["parent_sha256"] == parent.sha256
    assert summary["steps"] == 2 and summary["seed"] == 0 and summary["frames"] > 0
    assert summary["defects_excluded"] == [defect.id]
    validation = summary["validation"]
    assert validation["child_mse"] <= validation["parent_mse"]
    assert validation["holes"] >= 1 and validation["held_out_frames"] >= 48
    assert f"{CAMERA} now repairs with {child.name} (child " in out
    trained = summary["frames"] - validation["held_out_frames"]
    assert (
        f"on {trained} frames of 3 recordings ({validation['held_out_frames']} more held out)"
        in out
    )
    assert summary["time_range"][0] >= SINCE.isoformat()
    assert event is not None and json.loads(event.payload)["parent_sha256"] == parent.sha256

    folder = Path(child.path)
    assert folder.name == "export" and (folder / "model.safetensors").is_file()
    # The parent is neither the default model nor asked for by size: the child takes its sizes.
    assert read_config(folder).latent_shape == read_config(tiny_checkpoint).latent_shape
    assert read_config(folder).latent_shape != MaltConfig().latent_shape
    assert folder.parent.parent == (Path("data") / "models" / CAMERA).resolve()
    assert [p.name for p in folder.parent.parent.iterdir()] == [folder.parent.name]  # no .partial

    invoke("repair", "--camera", CAMERA, "--json")
    with site.session() as session:
        [clip] = session.scalars(select(SyntheticClip)).all()
    assert clip.model_id == child.id


def test_footage_leaves_out_defect_frames(sqlite_site: Catalog) -> None:
    footage = camera_footage(sqlite_site, CAMERA, MaltConfig.tiny())
    with sqlite_site.session() as session:
        [defect] = session.scalars(select(Defect)).all()
    start, end = defect.start_time.timestamp(), defect.end_time.timestamp()
    times = np.concatenate(footage.times)
    assert len(times) == footage.frames and not inside(times, np.array([[start, end]])).any()
    assert not ((times > start - GUARD_SECONDS) & (times < end + GUARD_SECONDS)).any()
    # The black frames are really gone, not only their times.
    luma = np.concatenate([s.frames.reshape(len(s.frames), -1).mean(axis=1) for s in footage.shots])
    assert luma.min() > 50
    # Shots join consecutive 10 s files and break at the defect.
    assert len(footage.shots) == 2
    assert footage.times[0][-1] < start and footage.times[1][0] >= end
    assert len(footage.shots[0].frames) > 100
    assert footage.shots[0].frames.shape[1:] == (37, 55, 3)  # covers the 32x48 working size


def test_shot_breaks_at_holes_and_cut_out_spans() -> None:
    times = np.concatenate([np.arange(0, 1, 0.1), np.arange(2, 3, 0.1), np.arange(3.5, 4, 0.1)])
    assert shot_breaks(times, np.zeros((0, 2)), 0.15) == [10, 20]
    # A cut-out span between frames 0.5 and 0.6 splits a run with no hole in time.
    run = np.arange(0, 1, 0.1)
    assert shot_breaks(run, np.array([[0.52, 0.58]]), 0.15) == [6]
    assert inside(run, np.array([[0.3, 0.5]])).nonzero()[0].tolist() == [3, 4]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--camera", "nope"), "no camera named 'nope'"),
        (("--camera", CAMERA, "--since", "2026-02-01"), "no good recordings"),
        (("--camera", CAMERA, "--since", "2026-01-05T07:00:20Z"), "too little"),
        ((), "--finetune: needs --camera"),
        (("--camera", CAMERA, "--tiny"), "--tiny: not with --finetune"),  # parent's sizes rule
        (("--camera", CAMERA, "--stage", "1"), "stage 2 only"),
        (("--camera", CAMERA, "--minutes", "0"), "--minutes: must be above 0"),
        (("--camera", CAMERA, "--autoencoder", "x"), "--autoencoder: not with"),
        (("--camera", CAMERA, "--adopt", "sometimes"), "--adopt: must be one of"),
        (("--camera", CAMERA, "--init", "nowhere"), "parent checkpoint not found"),
        (("--camera", CAMERA, "--init", "broken"), "config.json: not valid JSON"),
    ],
)
def test_bad_input_is_a_one_line_error_and_leaves_nothing(
    sqlite_site: Catalog, args: tuple[str, ...], message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    broken = Path("broken")  # a parent whose configuration was cut short
    broken.mkdir()
    (broken / "model.safetensors").write_bytes(b"")
    (broken / "config.json").write_text('{"d_model": 12')
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--finetune", "--steps", "2", "--threads", "1", *args])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    with sqlite_site.session() as session:
        assert session.scalar(select(func.count()).select_from(Model)) == 0
    assert not model_files()


def test_a_child_worse_than_its_parent_is_registered_but_does_not_repair(
    sqlite_site: Catalog, tiny_checkpoint: Path
) -> None:
    """A fine-tuning that wrecks the model (a learning rate far too high) must not take over the
    camera's repairs; `--adopt always` overrides the held-out verdict, not the figures."""
    wrecking = [*FINETUNE, "--since", SINCE.isoformat(), "--lr", "50"]
    out = invoke(*wrecking)
    with sqlite_site.session() as session:
        camera = session.scalar(select(Camera).where(Camera.name == CAMERA))
        assert camera is not None and camera.default_model_id is None
        [parent, child] = session.scalars(select(Model).order_by(Model.id)).all()
        assert child.parent_id == parent.id and child.camera_id == camera.id
        validation = child.training_summary["validation"]
    assert validation["child_mse"] > validation["parent_mse"], validation
    assert f"{CAMERA} keeps its model: child " in out

    invoke(*wrecking, "--adopt", "always")
    with sqlite_site.session() as session:
        camera = session.scalar(select(Camera).where(Camera.name == CAMERA))
        assert camera is not None and camera.default_model_id is not None
        # The same seed makes the same bytes: the registered child, now the camera's model.
        assert camera.default_model_id == child.id


def test_a_child_without_footage_to_validate_on_is_not_adopted(sqlite_site: Catalog) -> None:
    """15 s of footage: enough for a training window, not for one more held out of it."""
    out = invoke(*FINETUNE, "--since", "2026-01-05T06:59:45Z", "--until", "2026-01-05T07:00:00Z")
    assert f"{CAMERA} keeps its model: too little footage to hold some out" in out
    with sqlite_site.session() as session:
        camera = session.scalar(select(Camera).where(Camera.name == CAMERA))
        assert camera is not None and camera.default_model_id is None
        [_parent, child] = session.scalars(select(Model).order_by(Model.id)).all()
    assert child.training_summary["validation"] is None


def test_held_out_footage_is_the_tail_of_the_latest_shot_long_enough() -> None:
    def shot(name: str, n: int) -> RealShot:
        return RealShot(name, np.zeros((n, 4, 4, 3), np.uint8), 10.0)

    # 48 frames make a hole with a segment each side; a fifth of 400 frames is 80.
    trained, held = hold_out([shot("a", 300), shot("b", 60), shot("c", 40)], MaltConfig.tiny())
    assert held is not None and held.shot.name == "b (held out)" and len(held.shot.frames) == 60
    assert [(s.name, len(s.frames)) for s in trained] == [("a", 300), ("c", 40)]
    trained, held = hold_out([shot("a", 500)], MaltConfig.tiny())
    assert held is not None and len(held.shot.frames) == 100 and len(trained[0].frames) == 400
    short = [shot("a", 47)]
    assert hold_out(short, MaltConfig.tiny()) == (short, None)


def test_a_nights_window_registers_what_training_reached(sqlite_site: Catalog) -> None:
    """--minutes: the child is the model of the step the time ran out at, and says so."""
    invoke(
        "train", "--finetune", "--camera", CAMERA, "--threads", "1",
        "--steps", "100000", "--curriculum", "0:2", "--minutes", "0.0001",
    )  # fmt: skip
    with sqlite_site.session() as session:
        camera = session.scalar(select(Camera).where(Camera.name == CAMERA))
        assert camera is not None and camera.default_model_id is not None
        child = session.get(Model, camera.default_model_id)
        assert child is not None
        summary = child.training_summary
    assert 1 <= summary["steps"] < 100000
    assert summary["steps_asked"] == 100000 and summary["minutes"] == 0.0001
    assert (
        f"minutes are up at step {summary['steps']}"
        in (Path(child.path).parent / "train.log").read_text()
    )


@pytest.mark.parametrize("failing", ["training", "registration"])
def test_a_failure_leaves_no_model_folder_and_nothing_registered(
    sqlite_site: Catalog, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    import gapfill.training.train

    def broken_training(options: Any, *_args: Any, **_kwargs: Any) -> Any:
        (options.out / "stage2.pt").write_bytes(b"half")
        raise RuntimeError("killed mid-training")

    def broken_register(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("database went away")

    if failing == "training":
        monkeypatch.setattr(gapfill.training.train, "run_training", broken_training)
    else:
        monkeypatch.setattr(finetune_module, "_register", broken_register)
    with pytest.raises(SystemExit) as exit_info:
        main([*FINETUNE])
    assert exit_info.value.code == 2  # internal errors, not the user's
    with sqlite_site.session() as session:
        camera = session.scalar(select(Camera).where(Camera.name == CAMERA))
        assert camera is not None and camera.default_model_id is None
        assert session.scalar(select(func.count()).select_from(Model)) == 0
    assert [p.name for p in (Path("data") / "models" / CAMERA).iterdir()] == []


def test_camera_footage_trains_without_finetuning(
    sqlite_site: Catalog, capsys: pytest.CaptureFixture[str]
) -> None:
    """--camera alone adds the footage to an ordinary training run; nothing is registered."""
    args = ["train", "--out", "run", "--steps", "1", "--tiny", "--threads", "1"]
    invoke(*args, "--synth-seeds", "none", "--camera", CAMERA, "--since", SINCE.isoformat())
    assert (Path("run") / "export" / "model.safetensors").is_file()
    with sqlite_site.session() as session:
        assert session.scalar(select(func.count()).select_from(Model)) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--since", "2026-01-05"])
    assert exit_info.value.code == 1 and "need --camera" in capsys.readouterr().err
