"""Where and how loudly things run: the device a command asked for, checked once, and the Hugging Face libraries'
own progress output (their bars, and the Trainer's raw ``{'loss': ..., 'grad_norm': ...}`` lines) turned off when
npo_lab reports progress itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterator
from typing import Any

from .errors import UsageError

__all__ = ["DEVICES", "resolve_device", "quiet_library_bars", "library_bars", "quiet_trainer"]

#: the device names a command accepts (``cuda:N`` too); ``auto``: CUDA when available, else the CPU
DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")


def resolve_device(name: str | None = None, *, what: str = "--device"):
    """The ``torch.device`` named by ``name`` (``None``/``"auto"``: ``cuda`` when available, else ``cpu``).

    A name torch does not know, CUDA or MPS where the machine has none, or a CUDA index beyond the machine's
    devices raise :class:`UsageError` naming ``what`` (the option or argument) and the allowed names.
    """
    import torch

    if name is None or name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        raise UsageError(f"{what} {name!r} is not a device (use {', '.join(DEVICES)})") from None
    if device.type not in ("cpu", "cuda", "mps"):
        raise UsageError(f"{what} {name!r} is not a device npo_lab runs on (use {', '.join(DEVICES)})")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"{what} {name!r} is not available on this machine: no CUDA (use auto or cpu)")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise UsageError(f"{what} {name!r}: only {torch.cuda.device_count()} CUDA device(s)")
    mps = getattr(torch.backends, "mps", None)
    if device.type == "mps" and not (mps and mps.is_available()):
        raise UsageError(f"{what} {name!r} is not available on this machine: no MPS (use auto or cpu)")
    return device


def _set_library_bars(enabled: bool) -> bool:
    """Turn the transformers / datasets progress bars on or off; returns whether transformers' were on."""
    from transformers.utils import logging as hf_logging

    was_on = hf_logging.is_progress_bar_enabled()
    (hf_logging.enable_progress_bar if enabled else hf_logging.disable_progress_bar)()
    try:
        import datasets

        (datasets.enable_progress_bars if enabled else datasets.disable_progress_bars)()
    except ImportError:  # pragma: no cover - datasets is a dependency
        pass
    return was_on


def quiet_library_bars() -> None:
    """Progress bars of the Hugging Face libraries (weights loading/saving, datasets) off for this process."""
    _set_library_bars(False)


def init_worker(threads: int, own_group: bool = False) -> None:
    """Start of a worker process (a ``ProcessPoolExecutor`` initializer): ``threads`` torch threads (fixed, so
    that the worker's numbers do not depend on the machine's core count), the Hugging Face messages and bars off
    (several processes writing bars to one terminal garble it). ``own_group``: a process group of its own, so a
    terminal's Ctrl-C reaches only the parent, which then interrupts each worker once (POSIX)."""
    import torch
    from transformers.utils import logging as hf_logging

    if own_group and hasattr(os, "setpgrp"):
        import signal

        os.setpgrp()
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # idle: ignored; a task takes Ctrl-C inside `interruptible`
        signal.signal(signal.SIGTERM, _end_worker)  # idle: end now; inside `interruptible`: stop the task, then end
        _signal_when_parent_dies(signal.SIGTERM)

    torch.set_num_threads(threads)
    hf_logging.set_verbosity_error()
    quiet_library_bars()


def _signal_when_parent_dies(signum: int) -> None:
    """Linux: ``signum`` when the parent process ends (e.g. a killed notebook kernel), so that a worker in a group
    of its own does not run on unseen; elsewhere nothing."""
    import sys

    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signum, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - a libc without prctl
        pass


def _end_worker(signum, frame) -> None:
    os._exit(128 + signum)


_END_AFTER_TASK = []  # set by SIGTERM during a task: the worker ends once the task has stopped


def _stop_task_then_end(signum, frame) -> None:
    _END_AFTER_TASK.append(signum)
    raise KeyboardInterrupt


@contextlib.contextmanager
def library_bars(enabled: bool) -> Iterator[None]:
    """Within the block the Hugging Face bars are off unless ``enabled``; afterwards as they were."""
    if enabled:
        yield
        return
    was_on = _set_library_bars(False)
    try:
        yield
    finally:
        if was_on:
            _set_library_bars(True)


def quiet_trainer(trainer, progress: bool):
    """Without ``progress``, remove the Trainer's ``PrinterCallback`` (the raw ``{'loss': ...}`` dict it prints
    at every log step when bars are off); the logged values stay in ``trainer.state.log_history``. Returns it."""
    if not progress:
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)
    return trainer


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Around a worker's task: Ctrl-C raises ``KeyboardInterrupt`` inside the block (the task can stop cleanly
    and return what it has); outside it, a worker of :class:`WorkerPool` ignores Ctrl-C, so that interrupting
    the pool never kills an idle process (which would break the pool and the tasks in flight). SIGTERM (sent
    too when the parent dies, on Linux) stops the task the same way and then ends the worker."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    previous_term = signal.signal(signal.SIGTERM, _stop_task_then_end)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, previous_term)
        if _END_AFTER_TASK:  # SIGTERM (the parent is gone, or someone ended the worker): the task has stopped
            _end_worker(_END_AFTER_TASK[0], None)


@dataclasses.dataclass(frozen=True)
class WorkerPool:
    """``workers`` spawned processes (:class:`~concurrent.futures.ProcessPoolExecutor`, :func:`init_worker`
    with ``threads`` torch threads each and a process group of its own). Submit to :attr:`executor`; end with
    :meth:`close` (wait for the tasks) or :meth:`interrupt` (Ctrl-C to the tasks, then wait for them). A script
    that starts one keeps its top-level code under ``if __name__ == "__main__":`` (multiprocessing's spawn)."""

    executor: Any
    workers: int
    threads: int

    @classmethod
    def start(cls, workers: int, threads: int, warm: Callable[[], Any] | None = None) -> WorkerPool:
        """Start the processes; ``warm`` (a module-level function) runs once per process right away, e.g. the
        imports the tasks need, while the parent goes on."""
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        ctx = mp.get_context("spawn")
        executor = ProcessPoolExecutor(workers, mp_context=ctx, initializer=init_worker, initargs=(threads, True))
        for _ in range(workers if warm is not None else 0):
            executor.submit(warm)
        return cls(executor, workers, threads)

    def close(self) -> None:
        """Wait for the submitted tasks, cancel those not started, end the processes."""
        self.executor.shutdown(wait=True, cancel_futures=True)

    def interrupt(self) -> None:
        """Ctrl-C (SIGINT) once to every live worker (a task running inside :func:`interruptible` stops and
        returns; an idle worker ignores it), then :meth:`close`."""
        import signal

        for process in list((getattr(self.executor, "_processes", None) or {}).values()):
            if process.is_alive():
                os.kill(process.pid, signal.SIGINT)
        self.close()
