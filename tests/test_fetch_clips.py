"""`make real-clips` (gapfill.training.fetch_clips): the clips inside OpenCV's sdist, fetched once.

The real archive is 83 MB and on PyPI; these tests build small archives of the same layout and
pin them in its place, so the download, the checks and the extraction run for real, offline.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from gapfill.errors import UserError
from gapfill.training import clips, fetch_clips
from gapfill.training.clips import ALL_CLIPS, clip_path

FETCHED = sorted(name for name, info in ALL_CLIPS.items() if info.fetched)


def _archive(path: Path, contents: dict[str, bytes]) -> str:
    """A .tar.gz holding `contents` (clip name -> bytes) at the sdist's member paths; its sha256."""
    with tarfile.open(path, "w:gz") as archive:
        for name, data in contents.items():
            member = tarfile.TarInfo(ALL_CLIPS[name].sdist_member)
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _pin(monkeypatch: pytest.MonkeyPatch, archive_sha: str, contents: dict[str, bytes]) -> None:
    """Register `contents` as the clips and the archive as the pinned sdist, for this test."""
    monkeypatch.setattr(fetch_clips, "SDIST_SHA256", archive_sha)
    for name, data in contents.items():
        info = dataclasses.replace(ALL_CLIPS[name], sha256=hashlib.sha256(data).hexdigest())
        monkeypatch.setitem(ALL_CLIPS, name, info)


def test_the_fetched_clips_are_the_ones_the_benchmarks_need() -> None:
    assert FETCHED == ["box.mp4", "cup.mp4", "tree.avi", "vtest.avi"]
    assert "vtest.avi" in clips.EVAL_CLIPS
    assert all(ALL_CLIPS[name].sdist_member.startswith(clips.SDIST_ROOT) for name in FETCHED)


def test_download_checks_and_extracts_every_clip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    contents = {name: f"footage of {name}".encode() * 1000 for name in FETCHED}
    served = tmp_path / "served.tar.gz"
    _pin(monkeypatch, _archive(served, contents), contents)
    monkeypatch.setattr(fetch_clips, "SDIST_URL", served.as_uri())
    dest = tmp_path / "clips"

    assert sorted(fetch_clips.fetch(dest)) == FETCHED
    assert {p.name: p.read_bytes() for p in dest.iterdir()} == contents
    assert fetch_clips.fetch(dest) == []  # all present: no second download
    monkeypatch.setattr(clips, "fetched_clip_dir", lambda: dest)
    assert clip_path("vtest.avi") == dest / "vtest.avi"


def test_a_download_that_is_not_the_pinned_archive_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = tmp_path / "served.tar.gz"
    _archive(served, {name: b"x" for name in FETCHED})
    monkeypatch.setattr(fetch_clips, "SDIST_URL", served.as_uri())
    dest = tmp_path / "clips"
    with pytest.raises(UserError, match="is not the pinned"):
        fetch_clips.fetch(dest)
    assert not dest.exists() or not any(dest.iterdir())


def test_a_clip_that_differs_from_its_registration_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    contents = {name: name.encode() for name in FETCHED}
    sdist = tmp_path / "sdist.tar.gz"
    archive_sha = _archive(sdist, {**contents, "vtest.avi": b"a different file"})
    _pin(monkeypatch, archive_sha, contents)
    dest = tmp_path / "clips"
    with pytest.raises(UserError, match=r"vtest\.avi differs from the registered clip"):
        fetch_clips.fetch(dest, sdist)
    assert "vtest.avi" not in {p.name for p in dest.iterdir()}
    assert not [p for p in dest.iterdir() if p.name.startswith(".")]  # no staged leftovers


def test_the_command_refuses_a_wrong_archive_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = tmp_path / "other.tar.gz"
    _archive(wrong, {"vtest.avi": b"x"})
    dest = tmp_path / "clips"
    with pytest.raises(SystemExit) as exit_info:
        fetch_clips.main(["--sdist", str(wrong), "--dest", str(dest)])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(wrong) in err[0] and "sha256 differs" in err[0], err
    assert not dest.exists() or not any(dest.iterdir())


def test_an_unfetched_clip_says_how_to_fetch_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(clips, "fetched_clip_dir", lambda: tmp_path / "empty")
    with pytest.raises(UserError, match="make real-clips"):
        clip_path("vtest.avi")


def test_a_missing_archive_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere.tar.gz"
    with pytest.raises(SystemExit) as exit_info:
        fetch_clips.main(["--sdist", str(missing), "--dest", str(tmp_path / "clips")])
    assert exit_info.value.code == 1
    assert capsys.readouterr().err.strip() == f"error: {missing}: no such file"
