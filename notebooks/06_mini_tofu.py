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
# # 05 · Mini-TOFU: unlearning fictitious authors on a laptop CPU
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/npo-lab/npo_lab/blob/main/notebooks/06_mini_tofu.ipynb)
#
# **What you will learn:** the paper's TOFU experiment end to end on a ~1 M-parameter language model — fine-tune it
# on fictitious authors, unlearn two of them with GA, GA+RT, NPO, NPO+RT, IDK+RT and DPO+RT, and read forget quality
# against model utility epoch by epoch (paper Figs. 2, 5, 6, 7, 10); then look at *what the model now answers*:
# gradient ascent's degenerate repetition versus NPO+RT.
#
# **Runtime:** about 5 minutes on a 2-core laptop CPU the first time (training the tokenizer and the two small
# models is cached on disk, so a re-run takes about half of that). No GPU, no network.

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
from npo_lab.demo import DemoConfig, answers_table, load_demo, reference_logs, repetition_rate, results_table, run_demo
from npo_lab.minitofu import n_parameters, prepare
from npo_lab.plotting import (
    plot_forget_kl_over_epochs,
    plot_forget_probability_over_epochs,
    plot_forget_quality_over_epochs,
    plot_forget_quality_vs_utility,
    plot_model_utility_over_epochs,
    set_style,
)
from npo_lab.tofu.data import load_tofu
from npo_lab.tofu.metrics import summarize

set_style()
pd.set_option("display.max_colwidth", 90)
OUT = Path(tempfile.mkdtemp(prefix="npo_lab_05_"))  # where the run records go
# One object holds every setting of the experiment; smoke mode (CI) shrinks the model, data and epochs.
CONFIG = DemoConfig(out=str(OUT / "demo"), data="synthetic", forget_split="forget10", seed=0, time_budget=None)
print("smoke mode:", is_smoke(), "| output:", OUT)

# %% [markdown]
# ## 1. The data: fictitious authors in TOFU's format
#
# TOFU (Maini et al. 2024) has 200 invented authors with 20 question–answer pairs each. A model is fine-tuned on
# all of them, then asked to *forget* the last 1/5/10 % while keeping the rest (the *retain* authors) and its
# general knowledge (real authors, world facts). The bundled offline set has the same format with 20 synthetic
# authors (`data/synthetic_tofu`, written by `npo_lab.tofu.synthetic`). Every evaluation question also has a
# paraphrased answer and 5 *perturbed* answers (same sentence, wrong facts): the truth ratio compares the two.

# %%
full = load_tofu("full", "synthetic").to_pandas()
print(len(full), "QA pairs,", len(full) // 20, "authors")
full.head(3)

# %%
row = load_tofu("forget10_perturbed", "synthetic")[0]
print("Q:", row["question"], "\nA:", row["answer"], "\nparaphrased:", row["paraphrased_answer"])
print("perturbed #1:", row["perturbed_answer"][0])

# %% [markdown]
# ## 2. A tiny Llama that memorises the authors — and a retain model that never saw the forget authors
#
# `prepare` trains a byte-level BPE tokenizer and two randomly initialised 2-layer Llama-style models with the
# `transformers` Trainer: the **fine-tuned** model (all authors + the general-knowledge set; the *reference
# model* π_ref of unlearning) and the **retain** model (retain authors + general set only; the target that
# forget quality compares against). Both are cached under `$NPO_LAB_CACHE` (default `~/.cache/npo_lab`).

# %%
setting = prepare(CONFIG.minitofu_config(), CONFIG.forget_split)
print(f"{n_parameters(setting.model):,} parameters; forget authors: {len(setting.forget_rows) // 20}, "
      f"retain authors: {len(setting.retain_rows) // 20}")
pd.Series(setting.log[f"check_{CONFIG.forget_split}"]).to_frame("mean answer probability")

# %% [markdown]
# The fine-tuned model gives its training answers a probability close to 1; the retain model knows the retain
# authors just as well but has to *guess* the forget authors' answers. Now the TOFU metrics (notebook 07 dissects
# them): **model utility** = harmonic mean of probability, ROUGE-L recall and truth ratio on retain authors, real
# authors and world facts; **forget quality** = p-value of a KS test between the forget questions' truth ratios
# under the model and under the retain model (≈ 1: indistinguishable from never having learnt them).

# %%
retain_log, finetuned_log = reference_logs(setting, CONFIG)
reference = pd.DataFrame({"fine-tuned": summarize(finetuned_log, retain_log),
                          "retain model": summarize(retain_log, retain_log)})
reference.loc[["model_utility", "forget_quality", "forget_probability", "forget_truth_ratio", "forget_rouge"]]

# %% [markdown]
# ## 3. Unlearning with six methods, evaluated after every epoch
#
# `run_demo` (the same code as `npo-lab demo` / `make demo`) calls `npo_lab.unlearn.unlearn` once per method on a
# fresh copy of the fine-tuned model: AdamW, a one-epoch linear warm-up then linear decay (the paper's schedule),
# a TOFU evaluation after every epoch, and the forget KL $\mathbb E_{\text{forget}}\,\mathrm{KL}(\pi_{\text{ref}}
# \,\|\,\pi_\theta)$. At this scale the sequence log-probability sums ~40 sharply memorised tokens, so NPO's
# useful β is smaller than the paper's 0.1.

# %%
print({k: getattr(CONFIG, k) for k in ("methods", "learning_rate", "beta", "resolved_alpha", "resolved_epochs")})
summary = run_demo(CONFIG)

# %%
summary, frames = load_demo(CONFIG.out)
table = results_table(summary)
table

# %% [markdown]
# ## 4. Forget quality versus model utility (paper Fig. 5)
#
# Each path starts near the fine-tuned model (grey star: high utility, forget quality ~ 0) and moves one marker
# per epoch. The y axis is the paper's dual scale: logarithmic below 0.1, linear above; the dashed line is
# forget quality 0.05. The ideal end point is the retain model (black star): top right.

# %%
fig, ax = plt.subplots(figsize=(7, 5))
plot_forget_quality_vs_utility(frames, finetuned=summary["finetuned"], retain={
    "model_utility": summary["retain"]["model_utility"], "forget_quality": 1.0}, ax=ax)
ax.set_title("forget quality vs model utility, one marker per epoch");

# %% [markdown]
# ## 5. Over epochs: forget quality, utility, forget probability and forget KL (paper Figs. 6, 10)
#
# GA drives the forget probability to zero and keeps going: the forget KL grows without bound and model utility
# collapses with it (catastrophic collapse). NPO's adaptive weight $2\sigma(\beta\cdot\text{log-ratio})$ fades once a
# forget answer is unlikely enough, so its divergence levels off; the retain term (RT) repairs the utility lost on
# the way.

# %%
ft = reference["fine-tuned"]
fig, axes = plt.subplots(2, 2, figsize=(12, 8))
plot_forget_quality_over_epochs(frames, ax=axes[0, 0])
# relative to the fine-tuned model's utility (an untrained smoke-mode model can score 0: then absolute)
plot_model_utility_over_epochs(frames, ax=axes[0, 1], finetuned=ft["model_utility"],
                               relative=bool(ft["model_utility"] > 0))
plot_forget_probability_over_epochs(frames, ax=axes[1, 0], finetuned=ft["forget_probability"],
                                    retain=reference["retain model"]["forget_probability"])
plot_forget_kl_over_epochs(frames, ax=axes[1, 1])
fig.tight_layout()

# %% [markdown]
# ## 6. What does the model answer now? (paper Fig. 7)
#
# Greedy answers after the last epoch, first to **forget** questions, then to **retain** questions. The
# repetition rate (share of repeated character 5-grams: ≈ 0 for a fluent sentence, → 1 for "DarioDarioDario…")
# puts a number on degeneration. Look at both tables: a method can only claim to have *unlearned* if it still
# answers the retain questions fluently and correctly.
#
# What we measured at full size (3 seeds, synthetic authors): GA's answers collapse into one repeated token
# ("DarioDarioDario…", "Lantern Lantern …") on forget **and** retain questions (repetition ≈ 0.98). NPO+RT's
# answers to retain questions stay fluent and correct (≈ 0.01–0.03), while its answers to forget questions are
# wrong and, at this tiny scale, often repetitive too (≈ 0.6–0.9; on real TOFU authors ≈ 0.2: fluent-looking but
# wrong). Compare with the paper's example answers of 7B models (its Fig. 7): the difference that matters is
# that NPO+RT keeps the rest of the model intact.

# %%
answers = answers_table(CONFIG.out, split="forget")
answers.head(3).T

# %%
retain_answers = answers_table(CONFIG.out, split="retain")
retain_answers.head(2).T

# %%
cols = [c for c in answers.columns if c != "question"]
pd.DataFrame({"forget questions": {c: answers[c].dropna().map(repetition_rate).mean() for c in cols},
              "retain questions": {c: retain_answers[c].dropna().map(repetition_rate).mean() for c in cols}}
             ).round(2).rename(index={"answer": "ground truth"})

# %% [markdown]
# ## Summary
#
# * A 1 M-parameter Llama memorises 20 fictitious authors in under a minute of CPU; its forget quality against a
#   model that never saw the forget authors is tiny, so the benchmark can tell the two apart.
# * Gradient ascent forgets by destroying the model: utility collapses, the forget KL keeps growing, the answers
#   degenerate. Its forget quality only rises once its utility is gone.
# * NPO's loss is bounded and its per-example weight fades as an answer is unlearned; with the retain term, NPO+RT
#   reaches a forget quality the retain model would produce while keeping most of the utility (read the table:
#   `first_good_epoch` is the first epoch with forget quality > 0.05 at ≥ 80 % of the fine-tuned utility).
#
# ## Exercises
#
# 1. Run with `DemoConfig(seed=1)` and `seed=2`: which conclusions survive a new seed? Forget quality on 40
#    questions is noisy — by how much does the peak move?
# 2. Raise β to 0.1 (the paper's value) and to 0.5. What happens to the forget truth ratio and forget quality?
#    Why does a sum over ~40 memorised tokens call for a smaller β than a 7B model?
# 3. Use `DemoConfig(data="<path to TOFU>")` with the real TOFU files (the first 20 real authors): is the ordering
#    of the methods the same?
# 4. Add `"NPO+KL"` and `"SimNPO"` to `methods`. Which keeps more utility, the retain NLL or the KL term?
