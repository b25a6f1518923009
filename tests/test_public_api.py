"""The library surface: what `from gapfill import ...` offers; `import gapfill` stays light.

README's library example runs here as written, on a generated clip.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_detect_clips import Faults, write_clip

import gapfill
from gapfill.synth.scene import Scene


def test_import_gapfill_loads_neither_torch_nor_av_nor_sqlalchemy():
    code = "import sys, gapfill; print(sorted({'torch', 'av', 'sqlalchemy'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_public_names_import_from_the_package():
    from gapfill import GapfillError, UserError, fill_gap, fill_hole, scan_file

    assert issubclass(UserError, GapfillError)
    assert fill_gap is gapfill.fill.fill_gap.fill_gap
    assert fill_hole is gapfill.fill.fill_gap.fill_hole
    assert scan_file is gapfill.detect.recording.scan_file
    assert set(gapfill.__all__) <= set(dir(gapfill))
    with pytest.raises(AttributeError):
        gapfill.no_such_name  # noqa: B018


def test_scan_file_finds_a_black_span(tmp_path: Path):
    from gapfill import scan_file

    clip = write_clip(tmp_path / "clip.mp4", frames=60, faults=Faults(black=[(20, 32)]))
    findings = scan_file(clip)
    assert findings.status == "damaged"
    assert [(s.kind, s.frame_start, s.frame_end) for s in findings.spans] == [("black", 20, 32)]


def test_scan_file_of_a_missing_file_is_a_user_error(tmp_path: Path):
    from gapfill import UserError, scan_file

    with pytest.raises(UserError, match="no such file"):
        scan_file(tmp_path / "absent.mp4")


def readme_library_example() -> str:
    text = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    return text.split("```python\n", 1)[1].split("```", 1)[0]


def test_readme_library_example_runs_as_written(tmp_path: Path, capsys: pytest.CaptureFixture):
    """README's example, with its recording path pointed at a generated clip with a black span
    and `before`/`after` given; fill_gap runs the shipped checkpoint, as the example does."""
    example = readme_library_example()
    assert len(example.splitlines()) == 7
    path = '"rec/2026-01-05/06/press-01/00.00.mp4"'
    assert path in example
    clip = write_clip(tmp_path / "00.00.mp4", frames=60, faults=Faults(black=[(20, 32)]))
    footage = Scene(3, width=80, height=48, fps=15.0).render(0, 80)
    names = {"before": footage[:30], "after": footage[60:]}
    exec(example.replace(path, repr(str(clip))), names)
    assert names["frames"].shape == (30, 48, 80, 3) and names["frames"].dtype == np.uint8
    np.testing.assert_array_equal(names["hole"].frames, names["frames"])
    printed = capsys.readouterr().out.split()
    assert printed[0] == "black" and printed[-1] in ("kept", "dropped", "no-check-context")


def test_fill_gap_refuses_bad_input_with_a_user_error(tiny_checkpoint: Path):
    from gapfill import UserError, fill_gap

    footage = Scene(3, width=80, height=48, fps=10.0).render(0, 50)
    with pytest.raises(UserError, match="fps"):
        fill_gap(footage[:20], footage[30:], n_missing=10, fps=0.0, model=tiny_checkpoint)
