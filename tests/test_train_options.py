"""The stage 2 curriculum: how many segments each step unrolls, and the most any step of a run
does (the length of footage a fine-tune must find before it starts)."""

from __future__ import annotations

import pytest

from gapfill.training.train_options import largest_unroll, unroll_for_step


def test_the_default_curriculum_goes_from_2_to_4_to_8_segments() -> None:
    unrolls = [unroll_for_step(step, 100) for step in range(100)]
    assert unrolls[:25] == [2] * 25 and unrolls[25:60] == [4] * 35 and unrolls[60:] == [8] * 40


@pytest.mark.parametrize(
    ("total", "curriculum"),
    [
        (1, None), (3, None), (100, None), (1000, ((0, 2), (500, 4))), (500, ((0, 2), (500, 4))),
        (10, ((0, 4), (5, 2))), (7, ((0, 2), (6, 4), (6, 8))), (7, ((0, 2), (7, 8))),
    ],
)  # fmt: skip
def test_largest_unroll_is_the_most_any_step_unrolls(total, curriculum) -> None:
    # curricula as `--curriculum` accepts them: from step 0, ascending
    every_step = max(unroll_for_step(step, total, curriculum) for step in range(total))
    assert largest_unroll(total, curriculum) == every_step
