"""`gapfill repair` end to end through the CLI: generated recordings with known faults are
ingested, scanned and repaired with a tiny MALT checkpoint; the clips, their marks, the catalog rows
and the provenance must say exactly which frames are synthetic, and the originals stay untouched.
Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from sqlalchemy import func, select
from test_detect_clips import Faults, write_clip
from test_detect_scan import START, segment_path
from typer.testing import CliRunner

from gapfill.catalog.db import Catalog
from gapfill.catalog.models import Defect, ProvenanceEvent, SyntheticClip, SyntheticSpan
from gapfill.cli import app
from gapfill.media.probe import read_metadata, sha256_file
from gapfill.network.config import CONFIG_NAME, read_config
from gapfill.provenance.sidecar import read_sidecar
from gapfill.repair import run as repair_run
from gapfill.repair.marks import MARK_COLOUR
from gapfill.repair.output import read_cues

SEGMENT_FRAMES = 60
BLACK = (20, 30)  # frames of the second segment


def invoke(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout) if "--json" in args else result.output


def build_site(
    root: Path, plans: list[Faults | None], monkeypatch: pytest.MonkeyPatch
) -> list[Path]:
    """One 6 s segment of camera press-01 per plan (faults to inject or None), keys made,
    ingested and scanned. GAPFILL_DATABASE_URL and GAPFILL_MODEL_PATH must be set."""
    paths = []
    for j, faults in enumerate(plans):
        path = segment_path(root, "press-01", START + dt.timedelta(seconds=6 * j))
        write_clip(path, SEGMENT_FRAMES, faults, seed=j)
        paths.append(path)
    invoke("keys", "init")
    invoke("ingest", str(root), "--json")
    invoke("scan", "--json")
    return paths


@pytest.fixture
def site(
    tmp_path: Path, catalog: Catalog, tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, list[Path]]:
    """Three 6 s segments of one camera: clean, one with black frames, clean; cataloged. The model
    is the tiny checkpoint with a trust distance (change_tau) of its own, as a shipped one has."""
    model = tmp_path / "model"
    shutil.copytree(tiny_checkpoint, model)
    config = replace(read_config(model), change_tau=2.5)
    (model / CONFIG_NAME).write_text(config.to_json(), encoding="utf-8")
    monkeypatch.setenv("GAPFILL_DATABASE_URL", catalog.url)
    monkeypatch.setenv("GAPFILL_MODEL_PATH", str(model))
    root = tmp_path / "recordings"
    return root, build_site(root, [None, Faults(black=[BLACK]), None], monkeypatch)


def decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def test_repair_writes_a_flagged_clip_and_records_exactly_its_synthetic_frames(
    site: tuple[Path, list[Path]], catalog: Catalog
) -> None:
    _root, originals = site
    hashes = [sha256_file(p) for p in originals]
    [found] = invoke("defects", "--json")
    assert found["kind"] == "black" and found["state"] == "open"

    [result] = invoke("repair", "--json")
    assert result["state"] == "repaired" and result["synthetic_frames"] == BLACK[1] - BLACK[0]
    clip_path = Path(result["clip_path"])
    assert clip_path.is_file()

    with catalog.session() as session:
        clip = session.scalars(select(SyntheticClip)).one()
        [span] = session.scalars(select(SyntheticSpan)).all()
        defect = session.get(Defect, found["id"])
        assert defect is not None and defect.state == "repaired"
        events = session.scalars(select(ProvenanceEvent.action).order_by(ProvenanceEvent.seq)).all()
        repair_payload = json.loads(
            session.scalars(
                select(ProvenanceEvent.payload).where(ProvenanceEvent.action == "repair")
            ).one()
        )
    # The repair measured itself: the model's fill is part of the whole repair.
    assert clip.fill_seconds is not None and clip.repair_seconds is not None
    assert 0 < clip.fill_seconds <= clip.repair_seconds
    assert repair_payload["compute"] == {
        "fill_seconds": clip.fill_seconds,
        "repair_seconds": clip.repair_seconds,
    }
    assert clip.parameters["backend"] and "provider" in clip.parameters  # what it ran on
    # How the model sampled and how far its change was trusted: its checkpoint's own choices.
    assert (clip.parameters["sample_steps"], clip.parameters["change_tau"]) == (4, 2.5)
    # Whether the model's learned change is in the frames, and the context check that decided:
    # the tiny model's change is noise, so the first guess alone made them.
    assert clip.parameters["model_change"] == "dropped", clip.parameters
    assert clip.parameters["check_model_mse"] > clip.parameters["check_guess_mse"] > 0
    # The span's times are exactly the defect's; its frames are where the clip put them.
    assert span.start_time == defect.start_time and span.end_time == defect.end_time
    assert span.frame_end - span.frame_start == BLACK[1] - BLACK[0]
    assert clip.sha256 == sha256_file(clip_path)
    assert events.count("ingest") == 3 and events.count("model") == 1 and events[-1] == "repair"

    # Every synthetic frame carries the mark and no real frame does (the mark's magenta outline).
    frames = decode(clip_path)
    magenta = np.array(MARK_COLOUR)
    outlined = [
        bool((np.abs(f[0, :, :].astype(int) - magenta).sum(axis=1) < 120).mean() > 0.5)
        for f in frames
    ]
    expected = [span.frame_start <= i < span.frame_end for i in range(len(frames))]
    assert outlined == expected
    cues = read_cues(clip_path)
    assert len(cues) == 1 and "SYNTHETIC" in cues[0].text
    metadata = read_metadata(clip_path)
    assert metadata["com.gapfill.provenance_id"] == clip.provenance_id
    sidecar = read_sidecar(clip_path)
    assert sidecar["output"]["sha256"] == clip.sha256
    assert sidecar["parameters"] == clip.parameters
    assert {i["sha256"] for i in sidecar["inputs"]} <= set(hashes)

    verified = invoke("verify", "--all", "--json")
    assert verified["ok"] is True, verified
    # The auditor's listing says what made the frames: the first guess alone here.
    [row] = invoke("audit", "--json")
    assert row["model_change"] == "dropped" and row["frames"] == BLACK[1] - BLACK[0]
    # Originals are byte-for-byte what they were.
    assert [sha256_file(p) for p in originals] == hashes

    # Running again repairs nothing twice.
    assert invoke("repair", "--json") == []
    with catalog.session() as session:
        assert session.scalar(select(func.count(SyntheticClip.id))) == 1


def test_dry_run_writes_nothing(site: tuple[Path, list[Path]], catalog: Catalog) -> None:
    [planned] = invoke("repair", "--dry-run", "--json")
    assert planned["state"] == "planned" and planned["clip_path"] is None
    with catalog.session() as session:
        assert session.scalar(select(func.count(SyntheticClip.id))) == 0
        assert session.scalar(select(Defect.state)) == "open"
        assert session.scalar(select(func.count()).where(ProvenanceEvent.action == "model")) == 0


def test_too_long_a_span_is_unrepairable_with_the_reason(
    site: tuple[Path, list[Path]], catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GAPFILL_MAX_SPAN_SECONDS", "0.5")
    [result] = invoke("repair", "--json")
    assert result["state"] == "unrepairable" and "max_span_seconds" in result["reason"]
    [row] = invoke("defects", "--json")
    assert row["state"] == "unrepairable"


def test_a_failed_catalog_write_leaves_no_clip(
    site: tuple[Path, list[Path]], catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_record(*_args: Any, **_kwargs: Any) -> int:
        raise RuntimeError("database went away")

    from gapfill.cli import main

    monkeypatch.setattr(repair_run, "_record", broken_record)
    with pytest.raises(SystemExit) as exit_info:
        main(["repair"])
    assert exit_info.value.code == 2  # an internal error, not the user's
    output_dir = Path("data") / "synthetic"
    assert not [p for p in output_dir.rglob("*") if p.is_file()]
    [row] = invoke("defects", "--json")
    assert row["state"] == "open"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--defect", "999"), "no defect 999"),
        (("--camera", "nope"), "no camera named 'nope'"),
        (("--since", "yesterday-ish"), "--since"),
    ],
)
def test_bad_options_are_one_line_user_errors(
    site: tuple[Path, list[Path]], args: tuple[str, ...], message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    from gapfill.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["repair", *args])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_missing_checkpoint_is_a_user_error(
    site: tuple[Path, list[Path]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    from gapfill.cli import main

    monkeypatch.setenv("GAPFILL_MODEL_PATH", str(tmp_path / "no-model"))
    with pytest.raises(SystemExit) as exit_info:
        main(["repair"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a MALT checkpoint" in err[0]


def test_unreadable_signing_keys_are_refused_before_any_work(
    site: tuple[Path, list[Path]], catalog: Catalog, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Without a key every clip would fail after its fill: refuse at once, leave defects open."""
    from gapfill.cli import main
    from gapfill.config import load_settings

    signer = load_settings().effective_keys_dir / "signer.key"
    signer.rename(tmp_path / "elsewhere.key")
    with pytest.raises(SystemExit) as exit_info:
        main(["repair"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "signer.key" in err[0] and "keys init" in err[0]
    with catalog.session() as session:
        assert set(session.scalars(select(Defect.state))) == {"open"}
        assert session.scalar(select(func.count()).select_from(SyntheticClip)) == 0
