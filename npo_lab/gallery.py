"""The README gallery: ``npo-lab figures --out docs/figures`` regenerates every PNG there from the library.

* ``single_logit.png`` — GA vs NPO on one logit (paper Sec. 2.1): GA's logit walks off linearly, NPO's follows
  the closed form ``−(1/β)·log(1 + c·t)``.
* ``divergence.png`` — Theorem 2 simulated: ‖θ_t − θ_init‖ under GA (linear) and NPO for several β (logarithmic).
* ``synthetic_figure4.png`` — the paper's Fig. 4 reproduced: forget / retain distance to the retrained model for
  GA, GA+RT, IDK+RT, NPO, NPO+RT, DPO+RT (α = 1, 5 seeds, mean ± sd).
* ``synthetic_trajectories.png`` — the same runs as forget-vs-retain trajectories (Fig. 9 style).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

__all__ = ["single_logit_figure", "divergence_figure", "make_gallery", "add_arguments", "run_cli"]


def single_logit_figure(steps: int = 100_000, lr: float = 1.0, betas=(0.1, 1.0), z0: float = 2.0):
    """GA and NPO (several β) on a single logit, linear and log-t axes, with NPO's closed form dotted."""
    import matplotlib.pyplot as plt

    from npo_lab.plotting.theory import label_colors, plot_divergence
    from npo_lab.theory import npo_closed_form_shift, single_logit

    curves = {"GA": single_logit("GA", steps, lr, z0=z0) - z0}
    for b in betas:
        curves[f"NPO β={b:g}"] = single_logit("NPO", steps, lr, b, z0) - z0
    colors = label_colors(list(curves))
    fig, (a, b_) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    plot_divergence(curves, a, fit=["GA"], colors=colors, ylabel="logit shift  z_t − z_0", max_points=500)
    a.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    a.set_title("linear t: GA's logit walks off linearly", fontsize="medium")
    npo = {k: v for k, v in curves.items() if k != "GA"}
    plot_divergence(npo, b_, log_t=True, colors=colors, ylabel="logit shift  z_t − z_0", max_points=500)
    t = np.geomspace(1, steps, 200)
    for i, beta in enumerate(betas):
        b_.plot(t, npo_closed_form_shift(t, lr, beta, z0), "k:", lw=1.2, label="closed form" if i == 0 else None)
    b_.legend(fontsize="small")
    b_.set_title("log t: NPO's logit is a line of slope −1/β", fontsize="medium")
    fig.suptitle(f"Single logit, forget label y = 1, z₀ = {z0:g}, η = {lr:g}", fontsize="medium")
    return fig


def divergence_figure(steps: int = 5000, n_f: int = 16, d: int = 256, lr: float = 1.0, betas=(0.5, 1.0, 2.0)):
    """Theorem 2: ‖θ_t − θ_init‖_{XᵀX} for GA and NPO (several β); linear t and log t (NPO zoomed)."""
    import matplotlib.pyplot as plt

    from npo_lab.plotting.theory import label_colors, plot_divergence
    from npo_lab.theory import logistic_divergence

    curves = {"GA": logistic_divergence("GA", n_f, d, steps, lr)}
    for b in betas:
        curves[f"NPO β={b:g}"] = logistic_divergence("NPO", n_f, d, steps, lr, beta=b)
    colors = label_colors(list(curves))
    fig, (a, b_) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    ylabel = "‖θ_t − θ_init‖ in the XᵀX norm"
    plot_divergence(curves, a, fit=["GA"], colors=colors, ylabel=ylabel, max_points=500)
    a.set_title("linear t: GA diverges linearly", fontsize="medium")
    npo = {k: v for k, v in curves.items() if k != "GA"}
    plot_divergence(npo, b_, log_t=True, colors=colors, ylabel=ylabel, max_points=500)
    b_.set_title("log t: NPO diverges logarithmically, slower for larger β", fontsize="medium")
    fig.suptitle(f"Theorem 2: logistic model, n_f = {n_f} nearly orthogonal inputs in R^{d}, η = {lr:g}",
                 fontsize="medium")
    return fig


def make_gallery(out: str | Path, *, seeds: int = 5, steps: int = 2000, pretrain_steps: int = 20_000,
                 quick: bool = False) -> list[Path]:
    """Write the gallery PNGs into ``out``; returns their paths. ``quick`` shrinks every experiment (tests)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from npo_lab.plotting import set_style
    from npo_lab.plotting.theory import synthetic_figure
    from npo_lab.theory import random_features_experiment

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    set_style()
    written = []

    def save(fig, name):
        path = out / name
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        written.append(path)
        print(f"wrote {path}")

    save(single_logit_figure(steps=2_000 if quick else 100_000), "single_logit.png")
    save(divergence_figure(steps=500 if quick else 5000), "divergence.png")
    if quick:
        seeds, steps, pretrain_steps = 1, 50, 200
    df = random_features_experiment(alpha=1, seeds=seeds, steps=steps, pretrain_steps=pretrain_steps, progress=not quick)
    save(synthetic_figure(df, "figure4"), "synthetic_figure4.png")
    save(synthetic_figure(df, "figure9"), "synthetic_trajectories.png")
    return written


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("docs/figures"), help="output directory (default docs/figures)")
    parser.add_argument("--seeds", type=int, default=5, help="seeds of the synthetic experiment (default 5)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test of the command)")


def run_cli(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    make_gallery(args.out, seeds=args.seeds, quick=args.quick)
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0
