"""Seeds split over threads for the synthetic experiment (its seeds are independent).

The matrices are small, so each thread runs torch on one intra-op thread: several OpenMP threads per product
cost more in synchronisation than they save. torch releases the GIL inside its operations, so threads that work
on different seeds overlap their matrix products: the pretraining runs whole seeds per thread
(:func:`map_chunks`); the autograd reference's unlearning keeps one Python loop over all seeds and splits only
its batched matrix products (:class:`SplitProducts`). The closed-form (NumPy) unlearning is not threaded: its
step is many small operations that hold the GIL.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

__all__ = ["check_workers", "seed_chunks", "map_chunks", "single_thread", "SplitProducts"]


@contextlib.contextmanager
def single_thread():
    """Run torch on one intra-op thread inside the block (the setting is process-wide; restored afterwards)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def check_workers(workers) -> int:
    """``None`` → 1 thread; else an integer ≥ 1."""
    if workers is None:
        return 1
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"workers must be None or an integer >= 1, got {workers!r}")
    return int(workers)


def seed_chunks(n_seeds: int, workers: int) -> list[slice]:
    """Split ``n_seeds`` seeds into ``min(workers, n_seeds)`` contiguous, nearly equal slices."""
    k = max(1, min(int(workers), n_seeds))
    bounds = [round(i * n_seeds / k) for i in range(k + 1)]
    return [slice(bounds[i], bounds[i + 1]) for i in range(k)]


def map_chunks(fn: Callable, chunks: list[slice], stop: threading.Event | None = None) -> list:
    """``[fn(c) for c in chunks]``, on one thread per chunk when there are several. On Ctrl-C, ``stop`` is set
    (``fn`` should check it and return early) and the results are still collected."""
    if len(chunks) == 1:
        return [fn(chunks[0])]
    with ThreadPoolExecutor(len(chunks)) as pool:
        futures = [pool.submit(fn, c) for c in chunks]
        try:
            return [f.result() for f in futures]
        except KeyboardInterrupt:
            if stop is None:
                raise
            stop.set()
            return [f.result() for f in futures]


def _one_thread() -> None:
    torch.set_num_threads(1)


def _products(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor) -> None:
    torch.bmm(a, b, out=out)


class SplitProducts:
    """Batched matrix products ``a (S, m, k) @ b (S, k, n)`` with the batch (the seeds) split over ``workers``
    threads. Use as a context manager (the helper threads end on exit)."""

    def __init__(self, workers: int):
        self.workers = workers
        self._pool = ThreadPoolExecutor(workers - 1, initializer=_one_thread) if workers > 1 else None

    def bmm(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        out = a.new_empty(a.shape[0], a.shape[1], b.shape[2])
        if self._pool is None or a.shape[0] < 2:
            _products(a, b, out)
            return out
        first, *rest = seed_chunks(a.shape[0], self.workers)
        futures = [self._pool.submit(_products, a[c], b[c], out[c]) for c in rest]
        _products(a[first], b[first], out[first])
        for f in futures:
            f.result()
        return out

    def __enter__(self) -> SplitProducts:
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
