"""Toy dynamics and the synthetic random-features experiment (paper Sec. 2.1, Theorem 2, Sec. 4).

* :mod:`~npo_lab.theory.dynamics` — the single logit, the closed-form shifts, Theorem 2's logistic model.
* :mod:`~npo_lab.theory.synthetic` — the random-features unlearning experiment (Figs. 3, 4, 9), with its model and
  data in :mod:`~npo_lab.theory.random_features` and its GD loops in :mod:`~npo_lab.theory.training`.

Every gradient is the chain rule with two factors: ``∂L/∂(loss inputs)`` from the closed-form derivatives written
beside the terms of :mod:`npo_lab.losses` (:mod:`~npo_lab.theory.gradients`, the same terms the LLM trainer uses;
autograd for a term without one) and the model's own derivative of those inputs (:mod:`~npo_lab.theory.logistic`).
``backend="autograd"`` differentiates ``Method.loss`` with torch.autograd instead: the reference the tests compare
with. The toys take an optimiser (:mod:`~npo_lab.theory.optimizers`: GD, clipped GD, Adam).
"""

from . import dynamics, gradients, logistic, optimizers, random_features, synthetic, training  # noqa: F401
from .dynamics import *  # noqa: F401,F403
from .gradients import BACKENDS, ObjectiveGradient
from .logistic import bernoulli_kl
from .optimizers import OPTIMIZERS, Optimizer
from .random_features import INPUT_GAPS, SyntheticTask, make_task
from .synthetic import *  # noqa: F401,F403

__all__ = [
    *dynamics.__all__,
    *synthetic.__all__,
    "BACKENDS",
    "ObjectiveGradient",
    "bernoulli_kl",
    "OPTIMIZERS",
    "Optimizer",
    "INPUT_GAPS",
    "SyntheticTask",
    "make_task",
]
