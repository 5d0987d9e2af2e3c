"""Where and how loudly things run: the device a command asked for, checked once, and the Hugging Face libraries'
own progress output (their bars, and the Trainer's raw ``{'loss': ..., 'grad_norm': ...}`` lines) turned off when
npo_lab reports progress itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

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


def init_worker(threads: int) -> None:
    """Start of a worker process (a ``ProcessPoolExecutor`` initializer): ``threads`` torch threads (fixed, so
    that the worker's numbers do not depend on the machine's core count), the Hugging Face messages and bars off
    (several processes writing bars to one terminal garble it)."""
    import torch
    from transformers.utils import logging as hf_logging

    torch.set_num_threads(threads)
    hf_logging.set_verbosity_error()
    quiet_library_bars()


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
