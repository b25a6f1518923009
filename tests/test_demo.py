"""`gapfill demo`, README's first command, end to end on a short simulated recording."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from gapfill.cli import app, main


def test_demo_repairs_and_says_where_everything_is(
    tmp_path: Path, tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GAPFILL_MODEL_PATH", str(tiny_checkpoint))
    folder = tmp_path / "demo"
    for _ in range(2):  # a second run replaces the first demo's folder
        result = CliRunner().invoke(app, ["demo", "--dir", str(folder), "--minutes", "0.5"])
        assert result.exit_code == 0, result.output
    assert "verify: all verified" in result.stdout
    clips = sorted((folder / "synthetic").rglob("*.mp4"))
    assert clips, result.stdout
    for clip in clips:
        assert str(clip) in result.stdout
        assert clip.with_name(clip.name + ".provenance.json").is_file()
        assert clip.with_name(clip.stem + ".contact-sheet.png").is_file()
    # What made each clip's synthetic frames, in words: the tiny model's change or the guess.
    assert result.stdout.count("synthetic frames: ") == len(clips)
    assert "not recorded" not in result.stdout
    assert (folder / "recordings" / "ground_truth.json").is_file()
    page = folder / "report" / "index.html"
    assert f"pilot report (figures per camera and day): {page}" in result.stdout
    assert "footage" in page.read_text().lower() and (folder / "report" / "figures.csv").is_file()


def test_demo_refuses_a_folder_that_is_not_its_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--dir", str(tmp_path)])
    assert exit_info.value.code == 1
    assert "not a gapfill demo folder" in capsys.readouterr().err
    assert (tmp_path / "precious.txt").read_text() == "keep me"
