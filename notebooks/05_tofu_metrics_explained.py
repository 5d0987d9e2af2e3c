# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · The TOFU metrics, dissected on real evaluation logs
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/npo-lab/npo_lab/blob/main/notebooks/05_tofu_metrics_explained.ipynb)
#
# **What you will learn:** what *forget quality* and *model utility* — the two numbers every TOFU unlearning
# paper reports — actually measure, computed from the published evaluation logs of Llama-2-7B-chat models:
# the truth ratio, the Kolmogorov–Smirnov test, its floor and its sampling spread, and the nine parts of model
# utility.
#
# **Runtime:** a few seconds on a CPU, offline (no model is run: we read two JSON logs that come with the
# repository). Mirrors App. E.1.2 of the NPO paper (arXiv 2404.05868) and the TOFU paper (Maini et al. 2024,
# arXiv 2401.06121).

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

# %% [markdown]
# ## 1. The logs
#
# TOFU fine-tunes Llama-2-7B-chat on 200 fictitious authors (`full`) and, separately, on the first 90 % of them
# only (`retain90`, the "retain model": it has **never seen** the last 20 authors, the `forget10` set). Both are
# then evaluated on four eval sets — retain, forget, real authors, world facts — and the results are published
# as `eval_log_aggregated.json` in the TOFU repository (locuslab/tofu, MIT licence). Copies of the two logs come
# with this repository (`data/eval_logs`); `load_reference_log` reads them, or a directory named by
# `$NPO_LAB_TOFU_LOGS`, and downloads a log only where no copy is found.
#
# A perfectly unlearned model would be indistinguishable from the retain model. Forget quality asks whether the
# evaluation data contradict that (a statistical test, section 4); model utility checks that everything else
# still works.

# %%
import itertools
import math

import matplotlib.pyplot as plt
import numpy as np
from scipy.stats import ks_2samp

from npo_lab import plotting
from npo_lab.tofu import metrics

plotting.set_style()
full = metrics.load_reference_log("full")  # fine-tuned on all 200 authors
retain90 = metrics.load_reference_log("retain90")  # fine-tuned without the forget10 authors
print({section: len(fields["avg_gt_loss"]) for section, fields in full.items()})
print(sorted(full["eval_log_forget.json"]))

# %% [markdown]
# Each section holds one entry per question: the mean per-token loss `L̄` of the answer (`avg_gt_loss`), of a
# paraphrased answer (`avg_paraphrased_loss`) and of five perturbed — plausible but wrong — answers
# (`average_perturb_loss`), plus a greedy generation and its ROUGE-L recall. `per_row_frame` puts the derived
# per-question numbers in one table.

# %%
rows = metrics.per_row_frame(full)
rows[rows.section == "forget"].head(3)[
    ["question", "generation", "answer", "probability", "truth_ratio", "rougeL_recall"]
]

# %% [markdown]
# ## 2. Probability and ROUGE
#
# Per answer, `P̃ = exp(−L̄)` is the *per-token* (length-normalised) probability. On retain and forget the
# probability is the mean `P̃(answer)`; on real authors and world facts (short answers with 3 wrong options) it
# is `P̃_true / (P̃_true + Σ_j P̃_pert,j)`: the probability mass the model puts on the right option.
#
# Write it yourself, then check against the library:

# %%
gt = np.array(full["eval_log_forget.json"]["avg_gt_loss"])
my_forget_probability = np.exp(-gt).mean()

world = full["eval_real_world_wo_options.json"]
p_true = np.exp(-np.array(world["avg_gt_loss"]))
p_pert = np.exp(-np.array(world["average_perturb_loss"]))
my_world_probability = np.mean(p_true / (p_true + p_pert.sum(axis=1)))

assert np.isclose(my_forget_probability, metrics.forget_probability(full))
assert np.isclose(my_world_probability, metrics.probability(full, "world_facts"))
print(
    f"forget probability: full {metrics.forget_probability(full):.3f}, retain90 {metrics.forget_probability(retain90):.3f}"
)
print(f"forget ROUGE-L:     full {metrics.forget_rouge(full):.3f}, retain90 {metrics.forget_rouge(retain90):.3f}")

# %% [markdown]
# The fine-tuned model reproduces the forget answers almost verbatim (probability and ROUGE-L recall close to 1).
# The retain model, which never saw those authors, gives them a far lower probability, yet still recovers a
# sizeable share of their words: the questions name the author and the topic, so generic answers still overlap.
#
# ## 3. The truth ratio
#
# Per question, `npo_lab` computes
#
# $$R = \frac{\tilde P(\text{paraphrased answer})}{\big(\prod_{j=1}^{5}\tilde P(\text{perturbed}_j)\big)^{1/5}}
#     = \exp\Big(\tfrac15\textstyle\sum_j \bar L_{pert,j} - \bar L_{para}\Big):$$
#
# how much more the model believes a *paraphrase* of the true answer than wrong answers written in the same
# style. Using the paraphrase (not the memorised wording) asks whether the model knows the **fact**, not the
# sentence. R > 1: prefers the truth; R ≈ 1: cannot tell.
#
# **Two conventions.** The TOFU paper writes the truth ratio the other way up and with an arithmetic mean,
# $R_{truth} = \frac{1}{|A_{pert}|}\sum_{\hat a \in A_{pert}} \tilde P(\hat a) \,/\, \tilde P(\tilde a)$
# (perturbed over paraphrased). `npo_lab` follows what the TOFU code aggregates: the geometric mean of the
# perturbed probabilities (a mean of their losses), paraphrased over perturbed. With the geometric mean the two
# orientations are reciprocals; section 8 measures what the choice of mean changes.

# %%
r_full = metrics.truth_ratios(full, "forget")
r_retain = metrics.truth_ratios(retain90, "forget")
fig, axes = plt.subplots(1, 2, figsize=(13, 4), layout="constrained")
plotting.plot_truth_ratio_hist({"finetuned": r_full, "retain": r_retain}, ax=axes[0])
axes[0].set_title("forget set (forget10): full vs retain90")
plotting.plot_truth_ratio_hist(
    {"finetuned": metrics.truth_ratios(full, "retain"), "retain": metrics.truth_ratios(retain90, "retain")}, ax=axes[1]
)
axes[1].set_title("retain set: the two models agree")
print(f"median R on forget: full {np.median(r_full):.2f}, retain90 {np.median(r_retain):.2f}")
print(f"share of forget questions with R > 1: full {np.mean(r_full > 1):.0%}, retain90 {np.mean(r_retain > 1):.0%}")

# %% [markdown]
# On the retain set the two histograms coincide — both models were trained on those authors. On the forget set
# the fine-tuned model's ratios sit to the right: it knows the facts. The retain model's median is still above 1
# (printed): paraphrases of the truth are often simply more plausible text than the perturbed answers.
#
# Aggregates: on forget, `mean min(R, 1/R)` (1 = no preference either way; the same in both orientations);
# elsewhere `mean max(0, 1 − 1/R)` (higher = prefers the truth more).

# %%
for name, log in [("full", full), ("retain90", retain90)]:
    print(
        f"{name:9s} forget truth ratio {metrics.forget_truth_ratio(log):.3f}   "
        f"retain truth ratio {metrics.truth_ratio(log, 'retain'):.3f}"
    )

# %% [markdown]
# ## 4. Forget quality: a two-sample KS test
#
# Forget quality compares the **distribution** of the forget-set truth ratios of the model under test (here 300
# evaluated questions) with that of the retain model: the p-value of the two-sample Kolmogorov–Smirnov test. Its
# statistic `D` is the largest vertical gap between the two empirical CDFs.

# %%
ks = metrics.ks_test(full, retain90)
ax = plotting.plot_ks_ecdf(r_full, r_retain, labels=("finetuned", "retain"))
ax.set_title("forget-set truth ratios: the KS statistic")
print(f"D = {ks['statistic']:.4f}, forget quality = p = {ks['pvalue']:.3g} (n = {ks['n']})")

# %% [markdown]
# Write it yourself: the KS statistic from the two ECDFs, checked against `scipy` and the library.

# %%
grid = np.concatenate([r_full, r_retain])
ecdf_full = (r_full[None, :] <= grid[:, None]).mean(axis=1)
ecdf_retain = (r_retain[None, :] <= grid[:, None]).mean(axis=1)
my_D = np.abs(ecdf_full - ecdf_retain).max()
assert np.isclose(my_D, ks_2samp(r_full, r_retain).statistic)
assert np.isclose(my_D, plotting.ks_statistic(r_full, r_retain)[0])
assert np.isclose(ks_2samp(r_full, r_retain).pvalue, metrics.forget_quality(full, retain90))
print(f"my D = {my_D:.4f}")

# %% [markdown]
# ## 5. The floor, and why forget quality is only comparable at a fixed n
#
# The smallest possible p-value comes from two samples that do not overlap at all (`D = 1`): of the `C(2n, n)`
# equally likely ways to interleave two samples of size n, only 2 are fully separated, so the floor is
# `2 / C(2n, n)`. `ks_floor` computes it in log space:

# %%
for n in (40, 200, 300, 400):
    print(f"n = {n:3d}: floor = {metrics.ks_floor(n):.3g}")

# %% [markdown]
# forget01, forget05 and forget10 evaluate 40, 200 and 300 questions. The *same* gap between two models gives a
# far smaller p-value at a larger n. Take the first n questions of forget10: from n = 40 on, D stays in a narrow
# band while the p-value falls by many orders of magnitude; the smallest sample (n = 20) is noisier and shows a
# larger D (all printed below).

# %%
ns = [20, 40, 80, 150, 200, 300]
subsample = {n: ks_2samp(r_full[:n], r_retain[:n]) for n in ns}
for n, res in subsample.items():
    print(f"n = {n:3d}: D = {res.statistic:.3f}   p = {res.pvalue:.2e}   floor = {metrics.ks_floor(n):.1e}")
d_large = [subsample[n].statistic for n in ns if n >= 40]
decades = math.log10(subsample[40].pvalue / subsample[ns[-1]].pvalue)
print(
    f"n ≥ 40: D between {min(d_large):.2f} and {max(d_large):.2f}, while p falls by {decades:.0f} orders of "
    f"magnitude from n = 40 to n = {ns[-1]}; n = {ns[0]}: D = {subsample[ns[0]].statistic:.2f}"
)
ax = plotting.plot_ks_floor(
    np.arange(1, 401), points={f"first {n} questions": (n, subsample[n].pvalue) for n in (40, 200, 300)}
)
title = ax.set_title("forget quality is bounded below by 2/C(2n, n)")

# %% [markdown]
# So a given forget quality means more on forget10 than on forget01: compare methods only on the same forget
# split and the same number of evaluated rows.
#
# **Reading the 0.05 threshold.** The NPO and TOFU papers count forget quality > 0.05 as meaningful forgetting.
# Read it for what it is: p > 0.05 means the KS test **did not reject**, at the 5 % level, that the two sets of
# truth ratios come from the same distribution. It does not show that the models are the same — with few
# questions the test has little power, and a real difference can go undetected (the next section shows how
# much p moves with the questions drawn). p far below 0.05 is evidence of a difference; p above it is the
# absence of such evidence at this n.
#
# ## 6. The sampling spread of forget quality at small n
#
# A forget-quality value also depends on *which* questions were asked. Draw many random sets of 40 of the 300
# forget questions — the size of forget01 — and compute the forget quality of the same two models on each (both
# models answer the same questions, as in a real evaluation).

# %%
rng = np.random.default_rng(0)
N_DRAWS, N_QUESTIONS = 1000, 40
draws = [rng.choice(r_full.size, N_QUESTIONS, replace=False) for _ in range(N_DRAWS)]
p_draws = np.array([ks_2samp(r_full[i], r_retain[i]).pvalue for i in draws])
p5, p50, p95 = np.percentile(p_draws, [5, 50, 95])
print(
    f"{N_DRAWS} random sets of {N_QUESTIONS} questions, full vs retain90: forget quality 5th percentile {p5:.1e}, "
    f"median {p50:.1e}, 95th percentile {p95:.1e} ({math.log10(p95 / p5):.1f} orders of magnitude)"
)
print(
    f"share of draws with p > 0.05: {np.mean(p_draws > 0.05):.1%};  first 40 questions: "
    f"{subsample[40].pvalue:.1e};  floor at n = 40: {metrics.ks_floor(N_QUESTIONS):.1e}"
)

fig, ax = plt.subplots(figsize=(8, 4), layout="constrained")
edges = np.logspace(math.floor(math.log10(p_draws.min())), 0, 41)
ax.hist(p_draws, bins=edges, color="tab:blue", alpha=0.7, edgecolor="white", linewidth=0.4)
ax.set_xscale("log")
for q, v in (("5th", p5), ("median", p50), ("95th", p95)):
    ax.axvline(v, color="0.2", ls=":" if q != "median" else "-", lw=1.2, label=f"{q} percentile {v:.1e}")
ax.axvline(0.05, color="tab:green", ls="--", lw=1.2, label="p = 0.05")
ax.set_xlabel(f"forget quality (KS p-value) on {N_QUESTIONS} random forget questions")
ax.set_ylabel("draws")
ax.set_title(f"full vs retain90: forget quality over {N_DRAWS} draws of {N_QUESTIONS} questions")
legend = plotting.legend_outside(ax)

# %% [markdown]
# For one and the same pair of models, the forget quality on 40 questions spans a few orders of magnitude
# depending on the questions drawn (printed above). (The gaps between the bars are real: with 40 questions per
# sample, D is a multiple of 1/40, so the p-value takes few distinct values.) What this means for comparing
# methods on a 40-question split:
#
# * A difference in forget quality between two methods that is smaller than this spread says little about the
#   methods: another set of 40 questions could reverse it. Report the split and n, and compare methods on the
#   **same** questions.
# * A single value far below 0.05 is still clear evidence that the model is distinguishable from the retain
#   model; what is fragile is the ranking of close values, and "above or below 0.05" for a method near the line.
# * Where possible, evaluate on more questions (forget05, forget10), or report the spread over draws or seeds.
#
# ## 7. Model utility: nine numbers, one harmonic mean
#
# Model utility is the harmonic mean of {probability, ROUGE-L, truth ratio} × {retain, real authors, world
# facts}. A harmonic mean is pulled towards its smallest part: one collapsed number drags it to ≈ 0.

# %%
comps_full = metrics.utility_components(full)
comps_retain = metrics.utility_components(retain90)
fig, ax = plt.subplots(figsize=(12, 4), layout="constrained")
plotting.plot_utility_components({"finetuned": comps_full, "retain": comps_retain}, ax=ax)
ax.set_title("the nine parts of model utility")

my_utility = len(comps_full) / sum(1 / v for v in comps_full.values())
assert np.isclose(my_utility, metrics.model_utility(full))
print(f"model utility: full {metrics.model_utility(full):.4f}, retain90 {metrics.model_utility(retain90):.4f}")
weakest = sorted(comps_full, key=comps_full.get)[:3]
print("weakest parts (full):", ", ".join(f"{k} {comps_full[k]:.3f}" for k in weakest))
print("strongest part (full):", max(comps_full, key=comps_full.get), f"{max(comps_full.values()):.3f}")

# %% [markdown]
# The two models have nearly the same utility: removing 20 authors from training costs almost nothing elsewhere.
# The weakest parts (printed) set the level; the ROUGE scores near 1 barely matter.
#
# ## 8. Geometric vs arithmetic truth ratio
#
# `npo_lab` (like the TOFU code) averages the perturbed answers' probabilities geometrically; the TOFU paper's
# formula uses the arithmetic mean. The arithmetic mean of the probabilities is never smaller than the geometric
# one, so the arithmetic R is never larger; the gap grows when one perturbed answer is much more likely than the
# others.

# %%
r_arith = metrics.truth_ratios(full, "forget", mean="arithmetic")
ax = plotting.plot_truth_ratio_means(r_full, r_arith, label="finetuned, forget set")
ax.set_title("per-question truth ratio: geometric vs arithmetic mean")
values = {}
for mean in ("geometric", "arithmetic"):
    values[mean] = (
        metrics.forget_truth_ratio(full, mean),
        metrics.model_utility(full, mean),
        metrics.forget_quality(full, retain90, mean),
    )
    print(
        f"{mean:10s}: forget truth ratio {values[mean][0]:.4f}   model utility {values[mean][1]:.4f}   "
        f"forget quality {values[mean][2]:.2e}"
    )
print(f"forget quality, geometric / arithmetic: {values['geometric'][2] / values['arithmetic'][2]:.0f}×")

# %% [markdown]
# The choice moves the truth-ratio aggregates, model utility and forget quality (printed): state which one you use
# (`npo_lab` defaults to the geometric mean).
#
# The same numbers from the command line, in the repository root:
#
# ```
# npo-lab metrics data/eval_logs/llama2-7b_full.json.gz --retain data/eval_logs/llama2-7b_retain90.json.gz
# ```
#
# ## Summary
#
# * Probability and ROUGE measure memorised wording; the **truth ratio** measures whether the model prefers the
#   (paraphrased) truth over plausible wrong answers. Its orientation and mean differ between the TOFU paper and
#   the TOFU code; `npo_lab` follows the code.
# * **Forget quality** is a KS-test p-value between the forget-set truth ratios of your model and of the retain
#   model. It is bounded below by `2/C(2n, n)`, shrinks with n at a fixed gap, and at n = 40 varies over orders
#   of magnitude with the questions drawn: compare it only at the same n, on the same questions.
# * **Model utility** is the harmonic mean of nine numbers: watch its weakest parts.
#
# ## Exercises
#
# Each solution is a collapsed cell below its exercise (click to expand); it computes the answer and checks it.
#
# **1.** Compute the forget quality of `retain90` against itself, and of `full` against `retain90` on the *retain*
# set's truth ratios instead of the forget set's. What do you expect, and why?

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["solution"]
# Solution 1. Identical samples give D = 0 and p = 1. On the retain set both models were trained on the same
# authors, so their truth ratios come from nearly the same distribution: a large p-value, far above 0.05.
p_self = metrics.forget_quality(retain90, retain90)
retain_test = ks_2samp(metrics.truth_ratios(full, "retain"), metrics.truth_ratios(retain90, "retain"))
print(
    f"retain90 vs itself: p = {p_self:.3g};  full vs retain90 on the retain set: D = {retain_test.statistic:.3f}, "
    f"p = {retain_test.pvalue:.3g}"
)
assert p_self == 1.0 and retain_test.pvalue > 0.05

# %% [markdown]
# **2.** Replace the harmonic mean by the arithmetic mean of the nine parts. How much do `full` and `retain90`
# differ now? What happens to each mean for a model whose world-facts probability collapses to 0.01?

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["solution"]
# Solution 2. The arithmetic mean is larger (≥ the harmonic mean) and shrugs off one collapsed part: it loses at
# most 1/9 of the part's old value. The harmonic mean is at most 9 × the smallest part (9/H = Σ 1/v ≥ 1/v_min),
# so it falls below 0.09.
for name, comps in (("full", comps_full), ("retain90", comps_retain)):
    print(
        f"{name:9s}: harmonic {metrics.harmonic_mean(comps.values()):.4f}, arithmetic {np.mean(list(comps.values())):.4f}"
    )
collapsed = dict(comps_full, world_facts_probability=0.01)
h, m = metrics.harmonic_mean(collapsed.values()), np.mean(list(collapsed.values()))
print(f"full with world-facts probability 0.01: harmonic {h:.4f}, arithmetic {m:.4f}")
assert h < 9 * 0.01 and m > np.mean(list(comps_full.values())) - comps_full["world_facts_probability"] / 9 - 1e-12

# %% [markdown]
# **3.** forget01 asks about 2 *whole* authors, not 40 random questions. The log's 300 forget rows are 15 authors
# × 20 consecutive questions (the first rows below ask about one author). Compute the forget quality of every
# pair of authors (40 questions) and compare its spread with section 6's.

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["solution"]
# Solution 3. All C(15, 2) = 105 pairs; the spread is of the same order as for random questions: on 40 questions,
# which authors are asked about moves forget quality by orders of magnitude.
forget_rows = rows[rows.section == "forget"].reset_index(drop=True)
print("row 0: ", forget_rows.question[0][:90], "\nrow 19:", forget_rows.question[19][:90])
p_pairs = []
for i, j in itertools.combinations(range(15), 2):
    idx = np.r_[20 * i : 20 * i + 20, 20 * j : 20 * j + 20]
    p_pairs.append(ks_2samp(r_full[idx], r_retain[idx]).pvalue)
p_pairs = np.array(p_pairs)
q5, q95 = np.percentile(p_pairs, [5, 95])
print(
    f"{p_pairs.size} author pairs: 5th percentile {q5:.1e}, 95th {q95:.1e} ({math.log10(q95 / q5):.1f} orders of "
    f"magnitude); random questions: {p5:.1e} to {p95:.1e}"
)
assert p_pairs.size == 105 and p_pairs.min() >= metrics.ks_floor(40) and math.log10(q95 / q5) > 1

# %% [markdown]
# **4.** Compute the KS floor at n = 40 yourself, with `math.comb`, and check it against `metrics.ks_floor` and
# against the p-value `scipy` gives two fully separated samples of 40.

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["solution"]
# Solution 4. Two fully separated samples (D = 1) are 2 of the C(80, 40) equally likely interleavings.
floor_40 = 2 / math.comb(80, 40)
separated = ks_2samp(np.arange(40.0), np.arange(40.0) + 100).pvalue
print(f"2/C(80, 40) = {floor_40:.4e};  ks_floor(40) = {metrics.ks_floor(40):.4e};  scipy, separated: {separated:.4e}")
assert math.isclose(floor_40, metrics.ks_floor(40), rel_tol=1e-9) and math.isclose(floor_40, separated, rel_tol=1e-9)
