"""npo_lab.progress: a bar that leaves nothing in a saved notebook (no widget, no stale text), tqdm elsewhere."""

from __future__ import annotations

import pytest
from tqdm.std import tqdm as std_tqdm

from npo_lab.progress import NotebookBar, in_notebook, progress_bar, trainer_progress


def test_outside_a_kernel_it_is_tqdm_on_stderr(capsys):
    assert not in_notebook()
    bar = progress_bar(range(5), desc="work", mininterval=0)
    assert type(bar) is std_tqdm
    assert list(bar) == list(range(5))
    err = capsys.readouterr().err
    assert "work" in err and "5/5" in err


def test_notebook_bar_empties_its_display(monkeypatch):
    """The display shows the bar while it runs and holds nothing once the bar has closed."""
    shown = []

    class Handle:
        def update(self, data, raw):
            shown.append(data["text/plain"])

    def display(data, raw, display_id):
        assert raw and display_id
        shown.append(data["text/plain"])
        return Handle()

    monkeypatch.setattr("IPython.display.display", display)
    bar = NotebookBar(total=4, desc="steps", mininterval=0)
    for _ in range(4):
        bar.update(1)
    assert any("steps" in s and "4/4" in s for s in shown), shown
    bar.close()
    assert shown[-1] == ""


@pytest.mark.slow
def test_in_a_kernel_the_saved_notebook_holds_no_bar():
    """Run a bar in a real Jupyter kernel: the notebook keeps no widget and no bar text, only the cell's output."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.v4.new_notebook()
    code = (
        "from npo_lab.progress import progress_bar, in_notebook\n"
        "assert in_notebook()\n"
        "for _ in progress_bar(range(30), desc='work', mininterval=0):\n"
        "    pass\n"
        "print('done')"
    )
    nb.cells = [nbformat.v4.new_code_cell(code)]
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    outputs = nb.cells[0].outputs
    assert [o for o in outputs if o["output_type"] == "stream"] == [
        {"output_type": "stream", "name": "stdout", "text": "done\n"}
    ]
    displays = [o for o in outputs if o["output_type"] == "display_data"]
    assert len(displays) == 1 and displays[0]["data"] == {"text/plain": ""}, displays


def test_trainer_progress_swaps_the_bar_only_in_a_notebook(monkeypatch, tmp_path):
    from transformers import Trainer, TrainingArguments
    from transformers.trainer_callback import ProgressCallback

    from npo_lab.minitofu.model import tiny_llama

    model = tiny_llama(vocab_size=64, hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32)
    # disable_tqdm explicit: its default follows the logging level, which an earlier test in the worker may have set
    args = TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True, disable_tqdm=False)
    trainer = Trainer(model=model, args=args)
    names = lambda: [type(c).__name__ for c in trainer.callback_handler.callbacks]  # noqa: E731
    assert "ProgressCallback" in names()
    trainer_progress(trainer)  # not in a notebook: unchanged
    assert "ProgressCallback" in names() and "_Bar" not in names()
    monkeypatch.setattr("npo_lab.progress.in_notebook", lambda: True)
    trainer_progress(trainer)
    assert not any(isinstance(c, ProgressCallback) for c in trainer.callback_handler.callbacks)
    assert names().count("_Bar") == 1


def test_hugging_face_bars_off_only_in_a_notebook_and_only_within_the_block(monkeypatch):
    from transformers.utils import logging as hf_logging

    from npo_lab.progress import no_hf_widget_bars

    hf_logging.enable_progress_bar()
    with no_hf_widget_bars():  # not a notebook: unchanged
        assert hf_logging.is_progress_bar_enabled()
    monkeypatch.setattr("npo_lab.progress.in_notebook", lambda: True)
    with no_hf_widget_bars():
        assert not hf_logging.is_progress_bar_enabled()
    assert hf_logging.is_progress_bar_enabled()
