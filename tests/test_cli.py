"""The `gapfill` entry point itself: what it refuses before any command runs."""

from __future__ import annotations

import os
import sys

import pytest

from gapfill.cli import main

# How Python hands over a command-line byte that is not UTF-8: a lone surrogate.
NOT_UTF8 = os.fsdecode(b"\xffname")


def _run(capsys: pytest.CaptureFixture[str], args: list[str] | None) -> tuple[int, list[str]]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    return int(exit_info.value.code or 0), capsys.readouterr().err.splitlines()


@pytest.mark.parametrize(
    "args",
    [
        ["verify", f"/clips/{NOT_UTF8}.mp4"],
        ["recordings", "--camera", NOT_UTF8],
        ["audit", f"--camera={NOT_UTF8}"],
        ["ingest", NOT_UTF8],
    ],
)
def test_an_argument_that_is_not_utf8_is_refused_in_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    assert _run(capsys, ["init"])[0] == 0  # a catalog, so that the commands get that far
    code, err = _run(capsys, args)
    shown = repr(os.fsencode(args[-1]))  # b'\xffname', as the operator's shell has it
    assert (code, err) == (
        1,
        [f"error: argument {shown}: not valid UTF-8 (gapfill takes UTF-8 names and values)"],
    )


def test_sys_argv_is_checked_too(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["gapfill", "recordings", "--camera", NOT_UTF8])
    code, err = _run(capsys, None)
    assert code == 1 and err[0].startswith("error: argument b'\\xffname': not valid UTF-8"), err
