# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 06 · Forgetting more: 10 % → 50 % → 90 % of the authors, the retain weight, and β
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/npo-lab/npo_lab/blob/main/notebooks/07_forgetting_more.ipynb)
#
# **What you will learn:** how unlearning gets harder as the forget set grows (paper Figs. 8, 11): GA versus
# NPO+RT when 10 %, 50 % and 90 % of the mini-TOFU authors must be forgotten, with the retain weight raised as in
# the paper (α = 5 for 50 %, 12 for 90 %); then two sweeps — the retain weight α and NPO's inverse temperature β.
#
# **Runtime:** about 15 minutes on a 2-core laptop CPU (three retain models to train, 13 unlearning runs evaluated
# after every epoch); the fine-tuned model is shared with notebook 05 through the cache. No GPU, no network.

# %%
# npo_lab-install-cell: begin
import importlib.util, subprocess, sys  # noqa: E401

if importlib.util.find_spec("npo_lab") is None:  # e.g. a fresh Colab runtime
    for spec in ("npo-lab", "npo-lab @ git+https://github.com/npo-lab/npo_lab"):
        if subprocess.run([sys.executable, "-m", "pip", "install", "-q", spec]).returncode == 0:
            break
    else:
        raise RuntimeError("could not install npo_lab (tried PyPI, then https://github.com/npo-lab/npo_lab): check the network, "
                           "or clone the repository and run `pip install -e .` in it")
# npo_lab-install-cell: end

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from npo_lab import is_smoke
from npo_lab.demo import PAPER_ALPHA, DemoConfig, load_demo, results_table, run_demo
from npo_lab.plotting import (
    method_color,
    plot_forget_quality_vs_utility,
    plot_model_utility_over_epochs,
    set_style,
)

set_style()
OUT = Path(tempfile.mkdtemp(prefix="npo_lab_06_"))
BASE = DemoConfig(out=str(OUT), data="synthetic", seed=0, methods=("GA", "NPO+RT"), progress=False)
SPLITS = ("forget10", "forget50", "forget90")
ALPHAS = (1.0, 5.0, 12.0) if not is_smoke() else (1.0, 12.0)
BETAS = (0.005, 0.02, 0.1, 0.5) if not is_smoke() else (0.02, 0.5)
quiet = dict(print_fn=lambda *a, **k: None)  # the tables below say what matters
print("smoke mode:", is_smoke(), "| paper retain weights:", PAPER_ALPHA)

# %% [markdown]
# ## 1. Forget 10 %, 50 %, 90 % of the authors
#
# With 20 authors, `forget50` is the last 10 authors and `forget90` the last 18. Each forget split has its own
# retain model (trained on the remaining authors only; cached). Forget quality is measured on the forget10
# questions (as in TOFU, forget splits above 10 % are evaluated on `forget10_perturbed`), so the p-values are
# comparable across splits. The retain weight follows the paper: α = 1, 5, 12.

# %%
by_split = {}
for split in SPLITS:
    cfg = DemoConfig(**{**BASE.to_dict(), "out": str(OUT / split),
                        "forget_split": split})
    run_demo(cfg, **quiet)
    by_split[split] = load_demo(cfg.out)
    print(f"{split}: alpha = {cfg.resolved_alpha:g}, done")

rows = []
for split, (summary, frames) in by_split.items():
    t = results_table(summary)
    t.insert(0, "forget_split", split)
    rows.append(t)
pd.concat(rows, ignore_index=True)[["forget_split", "method", "peak_forget_quality", "epoch_of_peak",
                                    "utility_ratio_at_peak", "first_good_epoch", "final_model_utility"]]

# %%
fig, axes = plt.subplots(1, 3, figsize=(16, 4.8), sharey=True)
for ax, (split, (summary, frames)) in zip(axes, by_split.items()):
    plot_forget_quality_vs_utility(frames, finetuned=summary["finetuned"], ax=ax)
    ax.set_title(f"{split} (α = {PAPER_ALPHA.get(split, 1.0):g} for NPO+RT)")
fig.tight_layout()

# %% [markdown]
# The larger the forget set, the more of the model's knowledge GA has to push down, and the faster it collapses.
# NPO+RT keeps far more utility at 50 % and 90 % — helped by the larger retain weight — but note how the retain
# set shrinks (only 2 authors remain at 90 %), so "utility" leans more and more on the general-knowledge set.
#
# ## 2. The retain weight α (NPO+RT, forget50)

# %%
alpha_runs = {}
for alpha in ALPHAS:
    cfg = DemoConfig(**{**BASE.to_dict(), "methods": ("NPO+RT",), "out": str(OUT / f"alpha{alpha:g}"),
                        "forget_split": "forget50", "alpha": alpha})
    run_demo(cfg, **quiet)
    summary, frames = load_demo(cfg.out)
    alpha_runs[f"NPO+RT α={alpha:g}"] = frames["NPO+RT"]
    alpha_summary = summary

fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
plot_forget_quality_vs_utility(alpha_runs, finetuned=alpha_summary["finetuned"], ax=axes[0], annotate=False)
mu_ft = alpha_summary["finetuned"]["model_utility"]
plot_model_utility_over_epochs(alpha_runs, ax=axes[1], finetuned=mu_ft, relative=bool(mu_ft > 0))
for ax in axes:  # one method, several α: tell the lines apart by shade
    lines = [line for line in ax.get_lines() if line.get_label().startswith("NPO+RT")]
    for i, line in enumerate(lines):
        line.set_alpha(0.35 + 0.65 * (i + 1) / max(len(lines), 1))
axes[0].set_title("forget50: NPO+RT with retain weight α");

# %%
pd.DataFrame([{"alpha": k, "peak forget quality": df["forget_quality"].max(),
               "utility at peak / fine-tuned": df.loc[df["forget_quality"].idxmax(), "model_utility"]
               / alpha_summary["finetuned"]["model_utility"],
               "final utility / fine-tuned": df["model_utility"].iloc[-1] / alpha_summary["finetuned"]["model_utility"]}
              for k, df in alpha_runs.items()])

# %% [markdown]
# ## 3. NPO's β (NPO+RT, forget10)
#
# β sets how far the log-ratio $\log\pi_\theta - \log\pi_{\text{ref}}$ must fall before NPO's weight
# $2\sigma(\beta\cdot\text{log-ratio})$ fades: about $-1/\beta$ nats. As β → 0 NPO becomes GA (Proposition 1); a
# large β stops pushing early, before the forget answers look like the retain model's guesses.

# %%
beta_rows, beta_runs = [], {}
for beta in BETAS:
    cfg = DemoConfig(**{**BASE.to_dict(), "methods": ("NPO+RT",), "out": str(OUT / f"beta{beta:g}"), "beta": beta})
    run_demo(cfg, **quiet)
    summary, frames = load_demo(cfg.out)
    df = frames["NPO+RT"]
    mu_ft = summary["finetuned"]["model_utility"]
    beta_runs[f"β={beta:g}"] = df
    peak = df["forget_quality"].idxmax()
    beta_rows.append({"beta": beta, "peak forget quality": df.loc[peak, "forget_quality"],
                      "utility at peak / fine-tuned": df.loc[peak, "model_utility"] / mu_ft,
                      "final forget probability": df["forget_probability"].iloc[-1],
                      "final forget truth ratio": df["forget_truth_ratio"].iloc[-1]})
beta_table = pd.DataFrame(beta_rows)
beta_table

# %%
fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(beta_table["beta"], beta_table["peak forget quality"], "o-", color=method_color("NPO+RT"),
        label="peak forget quality")
ax.plot(beta_table["beta"], beta_table["utility at peak / fine-tuned"], "s--", color="0.4",
        label="utility at the peak / fine-tuned")
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("β")
ax.legend();

# %% [markdown]
# ## Summary
#
# * Forgetting more is harder: at 50 % and 90 % GA collapses sooner, and NPO+RT needs a larger retain weight to
#   hold on to utility (the paper's α = 5 and 12).
# * α trades forgetting for utility: a larger α slows the forgetting but keeps the model usable.
# * β sets where NPO stops pushing. Too small and NPO behaves like GA; too large and it stops before the forget
#   answers look "never learnt". Its useful range depends on the model and answer length — at this scale ≈ 0.02.
#
# ## Exercises
#
# 1. Measure forget quality at 50 % with `BASE` at `seed=1` and `seed=2`. Does NPO+RT reach 0.05 at ≥ 80 % of the
#    fine-tuned utility anywhere? (The issue reports a probe that did not.)
# 2. Use the real TOFU authors (`data="<path to TOFU files>"`) for the forget-50 % comparison.
# 3. Sweep the learning rate instead of β: which of the two moves the dip-then-recover pattern of NPO+RT more?
