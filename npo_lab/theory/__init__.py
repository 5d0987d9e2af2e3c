"""Toy dynamics and the synthetic random-features experiment (paper Sec. 2.1, Theorem 2, Sec. 4).

* :mod:`npo_lab.theory.dynamics` — the single logit, the closed-form NPO asymptote, Theorem 2's logistic model.
* :mod:`npo_lab.theory.synthetic` — the random-features unlearning experiment (paper Figs. 3, 4, 9) and the
  ``npo-lab synthetic`` command.

Both use the objectives of :mod:`npo_lab.losses`, the same code the LLM trainer uses.
"""

from .dynamics import (  # noqa: F401
    TOY_METHODS,
    fit_slope,
    ga_closed_form_shift,
    logistic_divergence,
    nearly_orthogonal_inputs,
    npo_closed_form_shift,
    npo_curves,
    single_logit,
)
from .synthetic import (  # noqa: F401
    PAPER_METHODS,
    SWEEP_BETAS,
    SyntheticTask,
    UnlearnSpec,
    bernoulli_kl,
    beta_sweep_specs,
    make_task,
    paper_specs,
    random_features_experiment,
    summarize_experiment,
)

__all__ = [
    "TOY_METHODS",
    "single_logit",
    "npo_closed_form_shift",
    "ga_closed_form_shift",
    "logistic_divergence",
    "nearly_orthogonal_inputs",
    "fit_slope",
    "npo_curves",
    "PAPER_METHODS",
    "SWEEP_BETAS",
    "SyntheticTask",
    "UnlearnSpec",
    "bernoulli_kl",
    "beta_sweep_specs",
    "make_task",
    "paper_specs",
    "random_features_experiment",
    "summarize_experiment",
]
