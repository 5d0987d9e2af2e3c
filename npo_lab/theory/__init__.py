"""Toy dynamics and the synthetic random-features experiment (paper Sec. 2.1, Theorem 2, Sec. 4).

* :mod:`npo_lab.theory.dynamics` — the single logit, the closed-form NPO asymptote, Theorem 2's logistic model.
* :mod:`npo_lab.theory.synthetic` — the random-features unlearning experiment (paper Figs. 3, 4, 9) and the
  ``npo-lab synthetic`` command.

Both use the objectives of :mod:`npo_lab.losses`, the same code the LLM trainer uses.
"""

from . import dynamics, synthetic
from .dynamics import *  # noqa: F401,F403
from .synthetic import *  # noqa: F401,F403

__all__ = [*dynamics.__all__, *synthetic.__all__]
