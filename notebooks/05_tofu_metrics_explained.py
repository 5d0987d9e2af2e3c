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
# # 07 · The TOFU metrics, dissected on real evaluation logs
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/npo-lab/npo_lab/blob/main/notebooks/05_tofu_metrics_explained.ipynb)
#
# **What you will learn:** what *forget quality* and *model utility* — the two numbers every TOFU unlearning
# paper reports — actually measure, computed from the published evaluation logs of Llama-2-7B-chat models:
# the truth ratio, the Kolmogorov–Smirnov test and its floor, and the nine parts of model utility.
#
# **Runtime:** a few seconds on a CPU (no model is run; we read JSON logs). Mirrors App. E.1.2 of the NPO paper
# (arXiv 2404.05868) and the TOFU paper (Maini et al. 2024).

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
# then evaluated on four eval sets — retain, forget, real authors, world facts — and the results are published as
# `eval_log_aggregated.json`. `load_reference_log` finds them locally (`$NPO_LAB_TOFU_LOGS`, or `eval_logs/`
# next to `$NPO_LAB_TOFU_DIR`) or downloads them once from the locuslab/tofu GitHub repository.
#
# A perfectly unlearned model would be indistinguishable from the retain model. Forget quality tests exactly
# that; model utility checks that everything else still works.

# %%
import matplotlib.pyplot as plt
import numpy as np
from scipy.stats import ks_2samp

from npo_lab import plotting
from npo_lab.tofu import metrics

plotting.set_style()
full = metrics.load_reference_log("full")          # fine-tuned on all 200 authors
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
rows[rows.section == "forget"].head(3)[["question", "generation", "answer", "probability", "truth_ratio", "rougeL_recall"]]

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
print(f"forget probability: full {metrics.forget_probability(full):.3f}, retain90 {metrics.forget_probability(retain90):.3f}")
print(f"forget ROUGE-L:     full {metrics.forget_rouge(full):.3f}, retain90 {metrics.forget_rouge(retain90):.3f}")

# %% [markdown]
# The fine-tuned model reproduces the forget answers almost verbatim (probability ≈ 0.99, ROUGE ≈ 0.99); the
# retain model, which never saw those authors, gives them probability ≈ 0.15 and recovers ≈ 40 % of the words
# (the questions name the author and the topic, so generic answers still overlap).
#
# ## 3. The truth ratio
#
# Per question, `R = exp(mean_j L̄_pert,j − L̄_para) = P̃_para / geo-mean_j P̃_pert,j`: how much more the model
# believes a *paraphrase* of the true answer than the wrong answers written in the same style. Using the
# paraphrase (not the memorised wording) asks whether the model knows the **fact**, not the sentence.
# R > 1: prefers the truth; R ≈ 1: cannot tell.

# %%
r_full = metrics.truth_ratios(full, "forget")
r_retain = metrics.truth_ratios(retain90, "forget")
fig, axes = plt.subplots(1, 2, figsize=(12, 4))
plotting.plot_truth_ratio_hist({"finetuned": r_full, "retain": r_retain}, ax=axes[0])
axes[0].set_title("forget set (forget10): full vs retain90")
plotting.plot_truth_ratio_hist({"finetuned": metrics.truth_ratios(full, "retain"),
                                "retain": metrics.truth_ratios(retain90, "retain")}, ax=axes[1])
axes[1].set_title("retain set: the two models agree")
print(f"median R on forget: full {np.median(r_full):.2f}, retain90 {np.median(r_retain):.2f}")

# %% [markdown]
# On the retain set the two histograms coincide — both models were trained on those authors. On the forget set
# the fine-tuned model's ratios sit to the right: it knows the facts. The retain model still prefers the truth
# a little (median R ≈ 1.2): paraphrases of the truth are often simply more plausible text.
#
# Aggregates: on forget, `mean min(R, 1/R)` (1 = no preference either way); elsewhere `mean max(0, 1 − 1/R)`
# (higher = prefers the truth more).

# %%
for name, log in [("full", full), ("retain90", retain90)]:
    print(f"{name:9s} forget truth ratio {metrics.forget_truth_ratio(log):.3f}   "
          f"retain truth ratio {metrics.truth_ratio(log, 'retain'):.3f}")

# %% [markdown]
# ## 4. Forget quality: a two-sample KS test
#
# Forget quality compares the **distribution** of the 300 forget-set truth ratios of the model under test
# with that of the retain model: the p-value of the two-sample Kolmogorov–Smirnov test. Its statistic `D` is the
# largest vertical gap between the two empirical CDFs.

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
my_D

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
# far smaller p-value at a larger n. Take the first n questions of forget10: D stays around 0.4, the p-value
# drops by 18 orders of magnitude.

# %%
ns = [20, 40, 80, 150, 200, 300]
subsample = {n: ks_2samp(r_full[:n], r_retain[:n]) for n in ns}
for n, res in subsample.items():
    print(f"n = {n:3d}: D = {res.statistic:.3f}   p = {res.pvalue:.2e}   floor = {metrics.ks_floor(n):.1e}")
ax = plotting.plot_ks_floor(np.arange(1, 401), points={f"first {n} questions": (n, subsample[n].pvalue)
                                                       for n in (40, 200, 300)})
ax.set_title("forget quality is bounded below by 2/C(2n, n)")

# %% [markdown]
# So "forget quality 1e-5" is a good result on forget10 and a mediocre one on forget01: compare methods only on the
# same forget split and the same number of evaluated rows; and read the 0.05 threshold ("indistinguishable from
# the retain model") as the meaningful target.
#
# ## 6. Model utility: nine numbers, one harmonic mean
#
# Model utility is the harmonic mean of {probability, ROUGE-L, truth ratio} × {retain, real authors, world
# facts}. A harmonic mean is pulled towards its smallest part: one collapsed number drags it to ≈ 0.

# %%
comps_full = metrics.utility_components(full)
comps_retain = metrics.utility_components(retain90)
ax = plotting.plot_utility_components({"finetuned": comps_full, "retain": comps_retain})
ax.figure.set_size_inches(12, 4)
ax.set_title("the nine parts of model utility")

my_utility = len(comps_full) / sum(1 / v for v in comps_full.values())
assert np.isclose(my_utility, metrics.model_utility(full))
print(f"model utility: full {metrics.model_utility(full):.4f}, retain90 {metrics.model_utility(retain90):.4f}")

# %% [markdown]
# The two models have nearly the same utility (0.623 vs 0.614): removing 20 authors from training costs almost
# nothing elsewhere. The weakest parts — probability on real authors / world facts (≈ 0.42–0.46) and the truth
# ratios (≈ 0.47–0.60) — set the level; the ROUGE scores near 1 barely matter.
#
# ## 7. Geometric vs arithmetic truth ratio
#
# TOFU averages the perturbed answers' probabilities geometrically (a mean of losses). The arithmetic mean of the
# probabilities is never smaller, so the arithmetic R is never larger; the gap grows when one perturbed answer is
# much more likely than the others.

# %%
r_arith = metrics.truth_ratios(full, "forget", mean="arithmetic")
ax = plotting.plot_truth_ratio_means(r_full, r_arith, label="finetuned, forget set")
for mean in ("geometric", "arithmetic"):
    print(f"{mean:10s}: forget truth ratio {metrics.forget_truth_ratio(full, mean):.4f}   "
          f"model utility {metrics.model_utility(full, mean):.4f}   "
          f"forget quality {metrics.forget_quality(full, retain90, mean):.2e}")

# %% [markdown]
# The choice moves the truth-ratio aggregates by a few hundredths — enough to take model utility from 0.623 to
# 0.586 — and the forget quality by a factor of ~30 here: state which one you use (`npo_lab` defaults to TOFU's
# geometric mean).
#
# The same numbers from the command line:
#
# ```
# npo-lab metrics ../shared/tofu/eval_logs/llama2-7b_full.json --retain ../shared/tofu/eval_logs/llama2-7b_retain90.json
# ```
#
# ## Summary
#
# * Probability and ROUGE measure memorised wording; the **truth ratio** measures whether the model prefers the
#   (paraphrased) truth over plausible wrong answers.
# * **Forget quality** is a KS-test p-value between the forget-set truth ratios of your model and of the retain
#   model: the fine-tuned model scores 1.83e-21 against retain90 on forget10. It is bounded below by
#   `2/C(2n, n)` and shrinks with n at a fixed gap, so compare it only at the same n.
# * **Model utility** is the harmonic mean of nine numbers (0.6227 fine-tuned, 0.6137 retain90): watch its
#   weakest parts.
#
# ## Exercises
#
# 1. Compute the forget quality of `retain90` against itself, and of `full` against `retain90` on the *retain*
#    set's truth ratios instead. What do you expect, and why?
# 2. Subsample 40 random forget questions (not the first 40) many times and plot the distribution of the p-value
#    of `full` vs `retain90`. How much does forget quality vary from one draw of 40 questions to the next?
# 3. Replace the harmonic mean by the arithmetic mean of the nine parts. How much do `full` and `retain90`
#    differ now, and what happens to a model whose world-facts probability collapses to 0.01?
# 4. Evaluate a model yourself with `npo_lab.tofu.evaluate.evaluate` (notebook 05's tiny model works on CPU)
#    and inspect its per-row table with `metrics.per_row_frame`.
