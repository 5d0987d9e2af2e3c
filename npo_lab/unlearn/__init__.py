"""Unlearning with any objective of :data:`npo_lab.losses.METHODS`, from a laptop CPU to several GPUs.

The package, in reading order:

* :mod:`~npo_lab.unlearn.config` — :class:`UnlearnConfig`, every setting of a run (loss, optimisation,
  evaluation, LoRA, output);
* :mod:`~npo_lab.unlearn.data` — :class:`ForgetRetainDataset` (forget rows paired with retain rows and "I don't
  know" answers) and its collator;
* :mod:`~npo_lab.unlearn.trainer` — :class:`Unlearner`, the ``transformers.Trainer`` whose loss is the method's
  objective: what the method needs, the forward passes, the loss;
* :mod:`~npo_lab.unlearn.callbacks` — the reference cache, evaluation with pluggable metrics, progress lines;
* :mod:`~npo_lab.unlearn.run` — :func:`unlearn`, one run from rows to a run record (:mod:`npo_lab.runs`).

Example (a GPU, real TOFU)::

    config = UnlearnConfig(method="NPO+RT", precision="bf16", batch_size=8, gradient_accumulation_steps=4,
                           epochs=10, learning_rate=1e-5, output_dir="runs/phi_npo_rt")
    result = unlearn(model, tokenizer, load_tofu("forget10", "hub"), load_tofu("retain90", "hub"), config,
                     retain_log=RETAIN_MODEL_EVAL_LOG, eval_source="hub", forget_split="forget10")
"""

from __future__ import annotations

from .callbacks import ProgressLogCallback, UnlearnEvalCallback
from .config import UnlearnConfig
from .data import ForgetRetainCollator, ForgetRetainDataset
from .record import check_run
from .run import RunResult, training_arguments, unlearn
from .trainer import Unlearner

__all__ = [
    "UnlearnConfig",
    "ForgetRetainDataset",
    "ForgetRetainCollator",
    "Unlearner",
    "UnlearnEvalCallback",
    "ProgressLogCallback",
    "RunResult",
    "check_run",
    "training_arguments",
    "unlearn",
]
