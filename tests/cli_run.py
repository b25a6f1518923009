"""Running `gapfill` through its real entry point (`main()`), as a shell does: exit code, stdout
and stderr, with a user error as exit 1 and an internal one as exit 2."""

from __future__ import annotations

import pytest

from gapfill.cli import main


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, list[str]]:
    """Exit code, stdout and stderr lines of `gapfill ARGS`."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), captured.out, captured.err.strip().splitlines()


def refused(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run `gapfill ARGS`, expect the one-line user error and nothing on stdout; returns that
    line."""
    code, out, err = run_cli(capsys, *args)
    assert code == 1, err
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert out == "", out
    return err[0]


def succeeds(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run `gapfill ARGS`, expect exit 0; returns stdout."""
    code, out, err = run_cli(capsys, *args)
    assert code == 0, err
    return out
