"""Progress bars: the one place where npo_lab draws a bar while it works.

* In a terminal (or any other stream): tqdm's text bar on stderr.
* In a Jupyter kernel (JupyterLab, Notebook, VS Code, Colab): a text bar drawn through one IPython display that is
  updated in place and **emptied when the bar closes**. No ipywidgets bar: a widget's model lives in the kernel,
  so a saved notebook that still holds one shows "Error displaying widget: model not found" (or a bar frozen
  mid-way) once the page is reloaded or the notebook reopened. The display holds plain text while it runs and
  nothing afterwards; a notebook saved after the run holds no bar.

:func:`progress_bar` replaces ``tqdm.auto.tqdm`` in the library; :func:`trainer_progress` gives a
``transformers.Trainer`` the same bar in place of its own (a widget bar or an HTML table in notebooks);
:func:`no_hf_widget_bars` turns the Hugging Face libraries' own bars (loading and writing weights: widgets in a
notebook) off around the library's calls to them, in notebooks only.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable, Iterator

from tqdm.std import tqdm as _std_tqdm

__all__ = ["in_notebook", "progress_bar", "trainer_progress", "no_hf_widget_bars", "NotebookBar"]

#: seconds between redraws of a notebook bar (each redraw is one message to the front-end)
NOTEBOOK_MININTERVAL = 0.5
#: width of a notebook bar's text, in characters
NOTEBOOK_NCOLS = 100


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (an IPython shell with a front-end that shows displays)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipykernel
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


class NotebookBar(_std_tqdm):
    """tqdm's text bar drawn into one updatable IPython display instead of a stream; closing it empties the
    display (``leave=False``, the default here) or leaves the final line (``leave=True``)."""

    def __init__(self, *args, **kwargs):
        self._handle = None
        kwargs.setdefault("file", io.StringIO())  # tqdm's stream writes (carriage returns) go nowhere
        kwargs.setdefault("mininterval", NOTEBOOK_MININTERVAL)
        kwargs.setdefault("ncols", NOTEBOOK_NCOLS)
        kwargs.setdefault("leave", False)
        super().__init__(*args, **kwargs)

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        text = self.__str__() if msg is None else msg
        if self._handle is None:
            if not text:
                return True
            from IPython.display import display

            self._handle = display({"text/plain": text}, raw=True, display_id=True)
        else:
            self._handle.update({"text/plain": text}, raw=True)
        return True


def progress_bar(
    iterable: Iterable | None = None,
    *,
    total: float | None = None,
    desc: str | None = None,
    unit: str = "it",
    disable: bool = False,
    leave: bool = False,
    **kwargs,
):
    """A tqdm bar over ``iterable`` (or updated by hand up to ``total``): :class:`NotebookBar` in a Jupyter
    kernel, tqdm's text bar on stderr elsewhere. ``leave=False`` (default): the bar disappears when it closes.
    Other keywords go to tqdm (``mininterval``, ``postfix``, ...)."""
    cls = NotebookBar if in_notebook() else _std_tqdm
    return cls(iterable, total=total, desc=desc, unit=unit, disable=disable, leave=leave, **kwargs)


def trainer_progress(trainer):
    """In a Jupyter kernel, replace the progress display of a ``transformers.Trainer`` (a widget bar or an HTML
    table that would stay in the saved notebook) by a :func:`progress_bar` over the training steps that is emptied
    when training ends. Elsewhere, and when the Trainer shows no progress (``disable_tqdm``), nothing changes.
    Returns the trainer."""
    from transformers.trainer_callback import ProgressCallback, TrainerCallback

    try:
        from transformers.utils.notebook import NotebookProgressCallback
    except ImportError:  # pragma: no cover - part of transformers
        NotebookProgressCallback = ProgressCallback
    handler = trainer.callback_handler
    shown = [cb for cb in handler.callbacks if isinstance(cb, (ProgressCallback, NotebookProgressCallback))]
    if not shown or not in_notebook():
        return trainer
    for cb in shown:
        trainer.remove_callback(cb)

    class _Bar(TrainerCallback):
        bar = None

        def on_train_begin(self, args, state, control, **kw):
            if state.is_world_process_zero:
                self.bar = progress_bar(total=state.max_steps, desc="training", unit="step")

        def on_step_end(self, args, state, control, **kw):
            if self.bar is not None:
                self.bar.update(state.global_step - self.bar.n)

        def on_log(self, args, state, control, logs=None, **kw):
            if self.bar is not None and logs and "loss" in logs:
                self.bar.set_postfix(loss=f"{logs['loss']:.4g}", refresh=False)

        def on_train_end(self, args, state, control, **kw):
            if self.bar is not None:
                self.bar.close()
                self.bar = None

    trainer.add_callback(_Bar())
    return trainer


@contextlib.contextmanager
def no_hf_widget_bars() -> Iterator[None]:
    """Within the block, in a Jupyter kernel, the bars of ``transformers`` and ``datasets`` (``tqdm.auto``: widgets,
    dead in a saved notebook) are off, and back as they were afterwards. Elsewhere nothing changes."""
    if not in_notebook():
        yield
        return
    from .runtime import library_bars

    with library_bars(False):
        yield
