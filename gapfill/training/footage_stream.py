"""Training footage made ahead of the model by worker processes.

Making a step's footage (rendering simulated cameras, cropping real shots, the first guess's
dense flow) takes a CPU core about 0.3 s; on a GPU the model's step takes a small fraction of
that. StepFootageMaker (gapfill.training.data) makes any step's footage from that step's own random
stream, so it can be made in any process and in any order: `workers` spawned processes keep the
next steps in the making while the model trains on the current one, and the batches are the
same as with no workers. Without workers the footage is made in the training process when it is
needed (the CPU default: there the model already keeps every core busy).
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor

from gapfill.training.data import StepFootage, StepFootageMaker

# Steps made ahead per worker: enough to ride out a slow batch, little memory.
AHEAD_PER_WORKER = 2

_worker_maker: StepFootageMaker | None = None  # a worker process's maker, set once at its start


def _start_worker(maker: StepFootageMaker) -> None:
    global _worker_maker
    import cv2

    cv2.setNumThreads(1)  # one core per worker: there are as many workers as spare cores
    _worker_maker = maker


def _make_in_worker(step: int, batch: int, unroll: int) -> StepFootage:
    assert _worker_maker is not None, "worker started without its maker"
    return _worker_maker(step, batch, unroll)


class FootageStream:
    """The footage of steps taken in order, made up to AHEAD_PER_WORKER * workers steps ahead.

    plan(step) -> (batch, unroll): the step's batch size and unroll (the curriculum).
    """

    def __init__(
        self,
        maker: StepFootageMaker,
        plan: Callable[[int], tuple[int, int]],
        end_step: int,
        workers: int = 0,
    ):
        self.maker, self.plan, self.end_step = maker, plan, end_step
        self.ahead = AHEAD_PER_WORKER * workers
        self.pending: deque[tuple[int, Future[StepFootage]]] = deque()
        self.pool = (
            ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context("spawn"),  # no fork of a threaded trainer
                initializer=_start_worker,
                initargs=(maker,),
            )
            if workers > 0
            else None
        )

    def footage(self, step: int) -> StepFootage:
        if self.pool is None:
            return self.maker(step, *self.plan(step))
        if self.pending and self.pending[0][0] != step:  # not the next step: start over there
            self._cancel_pending()
        next_step = self.pending[-1][0] + 1 if self.pending else step
        while next_step < min(step + self.ahead, self.end_step):
            future = self.pool.submit(_make_in_worker, next_step, *self.plan(next_step))
            self.pending.append((next_step, future))
            next_step += 1
        _, future = self.pending.popleft()
        return future.result()

    def _cancel_pending(self) -> None:
        for _, future in self.pending:
            future.cancel()
        self.pending.clear()

    def close(self) -> None:
        if self.pool is not None:
            self._cancel_pending()
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None

    def __enter__(self) -> FootageStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
