"""`gapfill synth` through the real entry point: bad input is refused with one line on stderr
naming the option or path, exit 1, no traceback, and no output directory left behind; a good run
keeps stderr clean where no terminal shows its progress bar."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_run import refused

from gapfill.cli import main

SMALL = ["--cameras", "1", "--width", "32", "--height", "32", "--workers", "1", "--faults", "none"]


def refused_synth(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The one line `gapfill synth ARGS` printed when it refused them."""
    return refused(capsys, "synth", *SMALL, *args)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--minutes", "inf"], "--minutes"),
        (["--minutes", "1e7"], "--minutes"),  # absurd: would plan millions of segments
        (["--segment-seconds", "nan"], "--segment-seconds"),
        (["--segment-seconds", "1e300"], "--segment-seconds"),  # would write no segment at all
        (["--start", "9999-12-31T23:59:00Z", "--minutes", "3"], "9999"),
        (["--start", "0001-01-01T00:00:00+01:00"], "--start"),
    ],
)
def test_non_finite_or_absurd_times_are_refused(
    tmp_path: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert message in refused_synth(["--out", str(out), *args], capsys)
    assert not out.exists()


def test_an_out_directory_under_a_regular_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    somefile = tmp_path / "somefile.txt"
    somefile.write_text("keep me")
    for out in (somefile / "sub", somefile / "sub" / "deeper"):
        line = refused_synth(["--out", str(out), "--minutes", "0.2"], capsys)
        assert str(out) in line and "Not a directory" in line
    assert somefile.read_text() == "keep me"


@pytest.mark.parametrize("workers", ["0", "-2"])
def test_no_workers_is_refused(
    tmp_path: Path, workers: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    line = refused_synth(["--out", str(out), "--minutes", "0.2", "--workers", workers], capsys)
    assert "--workers" in line and workers in line
    assert not out.exists()


def test_without_a_terminal_the_progress_bar_leaves_no_blank_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Captured stderr is not a terminal, as in a log file or CI: the bar, erased when it ends,
    # must leave nothing behind (it used to leave an empty line above the next output). Not
    # run_cli: it strips stderr, which would hide the very line this is about.
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        main(["synth", *SMALL, "--out", str(out), "--minutes", "0.2"])
    captured = capsys.readouterr()
    assert exit_info.value.code in (0, None), captured.err
    assert captured.out.startswith("wrote 2 segments"), captured.out
    assert captured.err == ""
