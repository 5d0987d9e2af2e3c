"""The README gallery: each figure is a function of its settings, built from the public theory API and the plot
helpers; the widgets (:mod:`npo_lab.widgets`) draw the same functions into their own Figure, and
``npo-lab figures`` (:mod:`npo_lab.cli.figures`) writes them into ``docs/figures``.

* ``single_logit.png`` — GA vs NPO on one logit (paper Sec. 2.1): GA's logit falls with slope −η, NPO's follows
  the closed form ``−(1/β)·log(1 + c·t)``, a line of slope −1/β against ln t.
* ``divergence.png`` — Theorem 2 simulated: ‖θ_t − θ_init‖ under GA (linear in t) and NPO for several β
  (linear in ln t), fitted slopes next to the theorem's rates ``η/√n_f`` and ``√n_f/β``.
* ``synthetic_figure4.png``, ``synthetic_trajectories.png`` — the paper's Figs. 4 and 9 (Sec. 4) reproduced.
* ``tofu_truth_ratios.png`` — forget-set truth-ratio ECDFs of the published Llama-2-7B ``full`` and ``retain90``
  eval logs (bundled) and their KS distance: TOFU's forget quality.
* ``minitofu_trajectories.png`` — forget quality vs model utility over epochs of a mini-TOFU demo directory.

Every number written on a figure is computed from what it shows (3 significant digits).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from pathlib import Path

import numpy as np

from npo_lab import theory
from npo_lab.plotting import (
    format_number,
    label_colors,
    legend_outside,
    plot_divergence,
    plot_forget_quality_vs_utility,
    reset_axes,
    set_style,
    synthetic_figure,
    truth_ratio_figure,
)

__all__ = [
    "single_logit_figure",
    "divergence_figure",
    "synthetic_figures",
    "tofu_truth_ratio_figure",
    "minitofu_figure",
    "make_gallery",
    "clear_cache",
]

_LOGIT_LABEL = r"logit shift $z_t - z_0$"


_CURVES: OrderedDict = OrderedDict()  # (kind, method, β, settings) -> a remembered theory curve


def _curves(kind: str, runs, **settings) -> list[np.ndarray]:
    """Theory curves for ``runs = [(method, β), ...]``: the ones not remembered are simulated together, in one
    batched loop (:func:`npo_lab.theory.single_logit_curves` or :func:`~npo_lab.theory.logistic_divergence_curves`),
    and remembered one by one (a widget moving β reruns NPO only)."""
    runs = [(m, 1.0 if m == "GA" else float(b)) for m, b in runs]  # GA ignores β
    keys = [(kind, m, b, tuple(sorted(settings.items()))) for m, b in runs]
    missing = [r for r, k in zip(runs, keys) if k not in _CURVES]
    if missing:
        fn = theory.single_logit_curves if kind == "logit" else theory.logistic_divergence_curves
        values = fn(missing, **settings)
        for j, (m, b) in enumerate(missing):
            curve = values[:, j].copy()
            curve.flags.writeable = False
            _CURVES[(kind, m, b, keys[0][3])] = curve
    for k in keys:
        _CURVES.move_to_end(k)
    while len(_CURVES) > 64:
        _CURVES.popitem(last=False)
    return [_CURVES[k] for k in keys]


def clear_cache() -> None:
    """Forget the remembered theory runs (they make a widget's return to a setting it has shown instant)."""
    _CURVES.clear()
    theory.dynamics._single_logit_run.cache_clear()
    theory.dynamics._logistic_run.cache_clear()


def _panels(axes, n: int, width: float):
    """``n`` side-by-side Axes: new ones in a new Figure, or the given ones emptied (a widget redraw)."""
    if axes is None:
        import matplotlib.pyplot as plt

        _, axes = plt.subplots(1, n, figsize=(width, 4), layout="constrained")
    for ax in axes:
        reset_axes(ax)
    return axes[0].figure, axes


def _npo_labels(betas) -> dict[float, str]:
    """Curve labels: ``"NPO"`` for a single β (named in the title), ``"NPO β=0.5"`` for several."""
    return {b: "NPO" if len(betas) == 1 else f"NPO β={format_number(b)}" for b in betas}


def single_logit_figure(
    steps: int = 100_000, lr: float = 1.0, betas=(0.1, 1.0), z0: float = 2.0, *, axes=None, max_points: int = 500
):
    """GA and NPO (one curve per β) on a single logit, linear and log-t axes (paper Sec. 2.1). Left: every curve,
    GA's fitted slope next to the prediction −η; right: NPO, fitted slopes per ln t next to −1/β, and the closed
    form :func:`npo_lab.theory.npo_closed_form_shift` dotted. Returns the Figure."""
    fig, (a, b) = _panels(axes, 2, 13)
    names = _npo_labels(betas)
    runs = [("GA", 1.0)] + [("NPO", beta) for beta in betas]
    values = _curves("logit", runs, steps=steps, lr=lr, z0=z0)
    curves = dict(zip(["GA"] + [names[beta] for beta in betas], (v - z0 for v in values)))
    colors = label_colors(list(curves))
    plot_divergence(curves, a, fit=["GA"], rates={"GA": -lr}, colors=colors, ylabel=_LOGIT_LABEL, max_points=max_points)
    a.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4))
    npo = {names[beta]: curves[names[beta]] for beta in betas}
    plot_divergence(
        npo,
        b,
        log_t=True,
        rates={names[beta]: -1.0 / beta for beta in betas},
        rate_lines=False,
        colors=colors,
        ylabel=_LOGIT_LABEL,
        max_points=max_points,
        legend=False,
    )
    t = np.geomspace(1, steps, 200)
    for i, beta in enumerate(betas):
        b.plot(
            t,
            theory.npo_closed_form_shift(t, lr, beta, z0),
            "k:",
            lw=1.2,
            label="closed form (asymptotic)" if i == 0 else None,
        )
    legend_outside(b)
    a.set_title("linear $t$", fontsize="medium")
    b.set_title("log $t$ (NPO)", fontsize="medium")
    fig.suptitle(f"Single logit: {_settings(z0=z0, lr=lr, betas=betas)}", fontsize="medium")
    return fig


def divergence_figure(
    steps: int = 5000,
    n_f: int = 16,
    d: int = 256,
    lr: float = 1.0,
    betas=(0.5, 1.0, 2.0),
    seed: int = 0,
    *,
    axes=None,
    max_points: int = 500,
):
    """Theorem 2: ``‖θ_t − θ_init‖_{XᵀX}`` for GA and NPO (one curve per β). Left: linear t, GA's fitted slope
    next to the theorem's ``η/√n_f``; right: NPO on log t, fitted slopes per ln t next to ``√n_f/β`` (dotted:
    the predicted slope through the last point). Returns the Figure."""
    fig, (a, b) = _panels(axes, 2, 13)
    names = _npo_labels(betas)
    runs = [("GA", 1.0)] + [("NPO", beta) for beta in betas]
    values = _curves("divergence", runs, n_f=n_f, d=d, steps=steps, lr=lr, seed=seed)
    curves = dict(zip(["GA"] + [names[beta] for beta in betas], values))
    colors = label_colors(list(curves))
    plot_divergence(curves, a, fit=["GA"], rates={"GA": lr / math.sqrt(n_f)}, colors=colors, max_points=max_points)
    npo = {names[beta]: curves[names[beta]] for beta in betas}
    plot_divergence(
        npo,
        b,
        log_t=True,
        rates={names[beta]: math.sqrt(n_f) / beta for beta in betas},
        colors=colors,
        max_points=max_points,
    )
    a.set_title("linear $t$", fontsize="medium")
    b.set_title("log $t$ (NPO)", fontsize="medium")
    ends = ", ".join(f"{k} {format_number(v[-1])}" for k, v in curves.items())
    fig.suptitle(
        f"Theorem 2, $n_f$ = {n_f} inputs in $d$ = {d} dimensions, {_settings(lr=lr, betas=betas)}\n"
        f"at $t$ = {steps:,}: {ends}",
        fontsize="medium",
    )
    return fig


def _settings(*, z0=None, lr, betas) -> str:
    """``"z₀ = 2, η = 0.0316, β = 0.501"`` (β only when there is a single one; the legend names several)."""
    parts = [f"$z_0$ = {format_number(z0)}"] if z0 is not None else []
    parts.append(f"η = {format_number(lr)}")
    if len(betas) == 1:
        parts.append(f"β = {format_number(betas[0])}")
    return ", ".join(parts)


def _kl_target(task) -> float:
    """``E_forget KL(π_ref ‖ π_retr)`` on the evaluation forget set: the forget KL of a model identical to the
    retrained one. One value per seed, summarised like the centre lines of the bands (geometric mean)."""
    import torch

    z_ref = task.phi_eval_forget @ task.theta_ref.unsqueeze(-1)
    z_retr = task.phi_eval_forget @ task.theta_retr.unsqueeze(-1)
    per_seed = theory.bernoulli_kl(z_ref, z_retr).flatten(1).mean(dim=1)
    return float(torch.exp(torch.log(per_seed).mean()))


def synthetic_figures(seeds: int = 5, steps: int = 2000, pretrain_steps: int = 20_000, progress: bool = False):
    """The paper's Figs. 4 and 9 (Sec. 4, separated inputs) from :func:`npo_lab.theory.random_features_experiment`;
    the forget-KL panel shows the target ``KL(π_ref ‖ π_retr)``. Returns ``(figure4, figure9)``."""
    task = theory.make_task(1, seeds, pretrain_steps=pretrain_steps)
    df = theory.random_features_experiment(task=task, steps=steps, progress=progress)
    return synthetic_figure(df, "figure4"), synthetic_figure(df, "figure9", kl_target=_kl_target(task))


def tofu_truth_ratio_figure(log=None, retain_log=None, *, labels=("full", "retain90")):
    """Forget-set truth ratios of two TOFU eval logs (default: the bundled published Llama-2-7B ``full`` and
    ``retain90`` logs): ECDFs with the KS distance, whose p-value is the forget quality
    (:func:`npo_lab.tofu.metrics.ks_test`), and histograms. Returns the Figure."""
    from npo_lab.tofu.metrics import ks_test, load_reference_log, truth_ratios

    log = load_reference_log("full", download=False) if log is None else log
    retain_log = load_reference_log("retain90", download=False) if retain_log is None else retain_log
    ks = ks_test(log, retain_log)
    return truth_ratio_figure(
        truth_ratios(log, "forget"),
        truth_ratios(retain_log, "forget"),
        labels=labels,
        pvalue=ks["pvalue"],
        title=f"TOFU forget quality = KS test of forget-set truth ratios, "
        f"{labels[0]} vs {labels[1]} ({ks['n']} questions)",
    )


def minitofu_figure(demo_dir: str | Path):
    """Forget quality (dual linear/log axis) vs model utility over epochs, one path per method (paper Figs. 2, 5),
    of a finished mini-TOFU demo directory (``npo-lab demo --out DIR``). Returns the Figure."""
    import matplotlib.pyplot as plt

    from npo_lab.experiments import load_demo

    summary, frames = load_demo(demo_dir)
    fig, ax = plt.subplots(figsize=(7.5, 4.5), layout="constrained")
    plot_forget_quality_vs_utility(frames, finetuned=summary["finetuned"], retain=summary["retain"], ax=ax)
    ax.set_title("mini-TOFU: forget quality vs model utility over epochs", fontsize="medium")
    return fig


def make_gallery(
    out: str | Path,
    *,
    seeds: int = 5,
    steps: int = 2000,
    pretrain_steps: int = 20_000,
    quick: bool = False,
    eval_logs: tuple | None = None,
    minitofu: str | Path | None = None,
    progress: bool = False,
) -> list[Path]:
    """Write the gallery PNGs into ``out``; returns their paths. ``quick`` shrinks every experiment (tests).
    ``eval_logs``: ``(log, retain_log)`` for ``tofu_truth_ratios.png`` (default: the bundled published logs);
    ``minitofu``: a finished demo directory for ``minitofu_trajectories.png`` (skipped when ``None``). The caller
    picks the matplotlib backend."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    set_style()
    if quick:
        seeds, steps, pretrain_steps = 1, 50, 200
    written = [
        _save(single_logit_figure(steps=2_000 if quick else 100_000), out / "single_logit.png"),
        _save(divergence_figure(steps=500 if quick else 5000), out / "divergence.png"),
    ]
    fig4, fig9 = synthetic_figures(seeds, steps, pretrain_steps, progress)
    written += [_save(fig4, out / "synthetic_figure4.png"), _save(fig9, out / "synthetic_trajectories.png")]
    written.append(_save(tofu_truth_ratio_figure(*(eval_logs or ())), out / "tofu_truth_ratios.png"))
    if minitofu is not None:
        written.append(_save(minitofu_figure(minitofu), out / "minitofu_trajectories.png"))
    return written


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
