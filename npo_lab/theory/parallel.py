"""Seeds split over processes or threads for the synthetic experiment (its seeds are independent).

The NumPy loops (the pretraining and the closed-form unlearning) are many small operations that hold the GIL: two
threads took 1.4–1.6× the time of one on the unlearning. On Linux their seeds are split over forked processes
(:func:`map_forked`), which share no GIL and start in milliseconds; elsewhere the pretraining splits them over
threads (:func:`map_chunks`: BLAS releases the GIL) and the unlearning runs them on one. The autograd reference's
unlearning keeps one Python loop over all seeds and splits only its batched matrix products over threads
(:class:`SplitProducts`: torch releases the GIL inside its operations; each thread runs torch on one intra-op
thread, as several OpenMP threads per small product cost more in synchronisation than they save).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import wait

import numpy as np
import torch

__all__ = ["check_workers", "seed_chunks", "map_chunks", "map_forked", "can_fork", "single_thread", "SplitProducts"]


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


def can_fork() -> bool:
    """True where :func:`map_forked` forks (Linux); elsewhere it runs the chunks one after the other."""
    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


class _PipeStop:
    """The ``stop`` event of a forked child: set by a ``"stop"`` message from the parent, by the parent's end
    (the pipe closes) or by Ctrl-C (SIGINT sets it instead of raising), so the child's loop ends and returns."""

    def __init__(self, conn):
        self.conn, self._set = conn, False

    def set(self, *_) -> None:
        self._set = True

    def is_set(self) -> bool:
        if not self._set:
            try:
                self._set = self.conn.poll()  # "stop" is the only message a child receives
            except (EOFError, OSError):
                self._set = True
        return self._set


def _child(conn, parent_ends: list, fn: Callable, chunk) -> None:
    for end in parent_ends:  # inherited by the fork: closed, so that the parent's end brings EOF here
        end.close()
    stop = _PipeStop(conn)
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:  # a background job ignores Ctrl-C, and so do we
        signal.signal(signal.SIGINT, stop.set)

    def tick(n: int) -> None:
        with contextlib.suppress(OSError):  # the parent has ended: stop.is_set() ends the loop
            conn.send(("tick", n))

    try:
        message = ("done", fn(chunk, stop, tick))
    except BaseException:  # noqa: BLE001 -- reported to the parent, which raises it
        message = ("error", traceback.format_exc())
    with contextlib.suppress(OSError):
        conn.send(message)


def map_forked(fn: Callable, chunks: list, stop: threading.Event, tick: Callable[[int], None] | None = None) -> list:
    """``[fn(c, stop, tick) for c in chunks]`` with ``chunks[1:]`` in forked child processes (Linux; elsewhere,
    or with one chunk, one after the other here). ``fn`` must compute with NumPy only and check ``stop.is_set()``
    often: a child holds none of the parent's threads, so it must not enter torch's or a library's thread pool.
    The children's ``tick(n)`` calls and results come back through pipes.

    Ctrl-C sets ``stop`` here and in the children (a second one, here, raises ``KeyboardInterrupt``), so every
    chunk returns what it computed; a ``stop`` set by the caller reaches the children too; a child whose parent
    ends stops; when ``fn`` raises here, the children end at once."""
    if len(chunks) == 1 or not can_fork():
        return [fn(c, stop, tick) for c in chunks]
    ctx = multiprocessing.get_context("fork")
    children: list = []
    results: dict[int, object] = {}

    def receive(timeout: float) -> None:
        ready = wait([c for i, (_, c) in enumerate(children) if i not in results], timeout)
        for conn in ready:
            i = next(i for i, (_, c) in enumerate(children) if c is conn)
            try:
                kind, value = conn.recv()
            except EOFError:
                kind, value = "error", f"worker process {children[i][0].pid} ended without a result"
            if kind == "tick":
                if tick is not None:
                    tick(value)
            elif kind == "error":
                results[i] = RuntimeError(f"a forked worker failed:\n{value}")
            else:
                results[i] = value

    def here_tick(n: int) -> None:
        if tick is not None:
            tick(n)
        receive(0)

    def on_ctrl_c(signum, frame) -> None:  # no KeyboardInterrupt in the middle of a message on a pipe
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = None
    try:
        with warnings.catch_warnings():  # Python >= 3.12 warns of fork in a threaded process; see the docstring
            warnings.simplefilter("ignore", DeprecationWarning)
            for chunk in chunks[1:]:
                mine, theirs = ctx.Pipe()
                ends = [c for _, c in children] + [mine]
                proc = ctx.Process(target=_child, args=(theirs, ends, fn, chunk), daemon=True)
                proc.start()
                theirs.close()
                children.append((proc, mine))
        if threading.current_thread() is threading.main_thread():
            if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
                previous = signal.signal(signal.SIGINT, on_ctrl_c)
        first = fn(chunks[0], stop, here_tick)
        told = False
        while len(results) < len(children):
            if stop.is_set() and not told:
                for i, (_, conn) in enumerate(children):
                    if i not in results:
                        with contextlib.suppress(OSError):
                            conn.send("stop")
                told = True
            receive(0.2)
    except BaseException:  # this chunk failed: nothing will be returned, so the children end now
        for proc, _ in children:
            proc.terminate()
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        for proc, conn in children:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
            conn.close()
    out = [first] + [results[i] for i in range(len(children))]
    for r in out:
        if isinstance(r, RuntimeError):
            raise r
    return out


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
