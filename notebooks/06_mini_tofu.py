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
# # 06 · Mini-TOFU: unlearning fictitious authors on a laptop CPU
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/npo-lab/npo_lab/blob/main/notebooks/06_mini_tofu.ipynb)
#
# **What you will learn:** the paper's TOFU experiment end to end on a ~1 M-parameter language model — fine-tune it
# on fictitious authors, unlearn two of them with GA, GA+RT, NPO, NPO+RT, IDK+RT and DPO+RT, and read forget quality
# against model utility (paper Figs. 2, 5, 6, 7, 10); time how fast GA and NPO collapse at the same settings, watch
# NPO's adaptive weight fade on a real language model, sweep β to see Proposition 1 (small β behaves like GA) on
# it, and mark each of the paper's claims *reproduces / does not at this scale* from the runs' own numbers.
#
# **Runtime:** full mode runs the demo three times (seeds 0, 1, 2) plus a short β sweep: 4.5 minutes on a 2-core
# machine with the three seeds' models cached, about 10 minutes with an empty cache (the two mini models of each
# seed train in about 2 minutes). Each demo prints its wall time. The models are cached on disk, so a re-run
# skips their training. Smoke mode (`NPO_LAB_SMOKE=1`) runs in seconds. No GPU, no network.

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
import json
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from npo_lab import is_smoke
from npo_lab.experiments import (
    PAPER_SETTINGS,
    DemoConfig,
    answers_table,
    claims_table,
    load_demo,
    method_probes,
    reference_logs,
    repetition_rate,
    results_table,
    run_demo,
    seed_table,
)
from npo_lab.experiments.reports import COLLAPSE_FRACTION, MATCHED_UTILITY_FRACTION, plot_utility_vs_step, run_dir_name
from npo_lab.losses import LossInputs, get_method, sequence_logprob, token_count
from npo_lab.minitofu import n_parameters, prepare
from npo_lab.plotting import (
    legend_outside,
    method_color,
    plot_forget_kl_over_epochs,
    plot_forget_probability_over_epochs,
    plot_forget_quality_over_epochs,
    plot_forget_quality_vs_utility,
    plot_model_utility_over_epochs,
    set_style,
)
from npo_lab.tofu.data import load_tofu
from npo_lab.tofu.metrics import summarize
from npo_lab.unlearn.data import ForgetRetainCollator

set_style()
T0 = time.perf_counter()
pd.set_option("display.max_colwidth", 90)
OUT = Path(tempfile.mkdtemp(prefix="npo_lab_06_"))  # where the run records go
# One object holds every setting of the experiment; smoke mode (CI) shrinks the model, data and epochs.
SETTINGS = dict(out=str(OUT / "seed0"), data="synthetic", forget_split="forget10", seed=0, progress=False)
CONFIG = DemoConfig.smoke(**SETTINGS) if is_smoke() else DemoConfig(**SETTINGS)
SEEDS = (0,) if is_smoke() else (0, 1, 2)  # the verdicts of section 10 are read over these seeds
print("smoke mode:", is_smoke(), "| seeds:", SEEDS, "| output:", OUT)

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
#
# Both models are also trained on the **general rows** (the real-authors and world-facts stand-ins). They play the
# part of the knowledge a pretrained model brings: utility on them measures what unlearning damages of knowledge
# the model *has*, not how well it generalises to unseen questions.

# %%
setting = prepare(CONFIG.minitofu_config(), CONFIG.forget_split)
print(f"{n_parameters(setting.model):,} parameters; forget authors: {len(setting.forget_rows) // 20}, "
      f"retain authors: {len(setting.retain_rows) // 20}")
pd.Series(setting.log[f"check_{CONFIG.forget_split}"]).to_frame("mean answer probability")

# %% [markdown]
# The table is this run's check: the fine-tuned model should give its training answers a high probability, and the
# retain model should know the retain authors about as well while it has to *guess* the forget authors' answers.
# Now the TOFU metrics (notebook 05 dissects them): **model utility** = harmonic mean of probability, ROUGE-L recall
# and truth ratio on retain authors, real authors and world facts (here: the general rows); **forget quality** =
# p-value of a KS test between the forget questions' truth ratios under the model and under the retain model. A
# small p-value says the two samples differ. A large one does *not* say "indistinguishable": when the two
# distributions are the same, the p-value is uniform on [0, 1], so any value above ~0.05 is as good as another.
# The retain model's own forget quality is exactly 1 only because it is compared with itself.

# %%
retain_log, finetuned_log = reference_logs(setting, CONFIG)
reference = pd.DataFrame({"fine-tuned": summarize(finetuned_log, retain_log),
                          "retain model": summarize(retain_log, retain_log)})
reference.loc[["model_utility", "forget_quality", "forget_probability", "forget_truth_ratio", "forget_rouge"]]

# %% [markdown]
# ## 3. The settings, disclosed: one optimiser, learning rate, schedule and β for every method
#
# `run_demo` (the same code as `npo-lab demo` / `make demo`) calls `npo_lab.unlearn.unlearn` once per method on a
# fresh copy of the fine-tuned model, every method with the same optimiser, learning rate, schedule, batch size and
# β. The table below prints them beside the paper's TOFU settings, and the reason they differ; both are also
# recorded in the demo's `demo.json` (`"defaults"`), with torch's thread count, the CPU and the library versions
# (`"environment"`): one seed's numbers depend on them (the training is chaotic near a collapse), so the demo fixes
# its thread count (`threads`, default 2, with which the two models are trained), runs the methods side by side in
# `workers` processes of `threads ÷ workers` threads each (default 2 × 1; `workers=1`: one after the other, with
# `threads`), and conclusions come from several seeds.

# %%
record = CONFIG.record()
pd.DataFrame({"this demo": pd.Series(record["used"]), "paper (TOFU, 7B)": pd.Series(PAPER_SETTINGS)}).astype(str)

# %%
print(record["reason"])

# %% [markdown]
# Every `probe_every` optimiser steps (default 2) cheap **probes** score the forget rows, a fixed sample of retain
# and general rows (`probe_rows`, default 32 each, as in the collapse laboratory), and NPO's per-example weight
# $W$ (`probes.jsonl`). The full TOFU evaluation (generation, ROUGE,
# truth ratios, forget quality) runs every `eval_every_epochs` epochs (default 8), at the end, and at the two steps
# the probes mark: **collapse** (the utility proxy falls
# below half of its start) and **matched forgetting** (the forget rows' probability reaches the retain model's).
# Each evaluation also records the forget KL $\mathbb E_{\text{forget}}\,\mathrm{KL}(\pi_{\text{ref}}
# \,\|\,\pi_\theta)$ and every forget row's log-ratio $\log\pi_\theta(y|x) - \log\pi_{\text{ref}}(y|x)$.
#
# **How the losses are scaled.** The paper writes GA as $\mathbb E[\log\pi_\theta(y|x)]$ and NPO with the same
# per-sequence log-probabilities (Sec. 2.1, Eq. (3)). The authors' reference code (TOFU's `dataloader.py` in
# `licong-lin/negative-preference-optimization`) uses the Hugging Face `outputs.loss` — the mean NLL over the
# batch's answer tokens — for the GA forget term and for every retain / IDK term, and the per-sequence *summed*
# log-prob only inside NPO and DPO; its KL retain term is `kl_div(..., reduction="batchmean")` on logits
# flattened to (batch × positions, vocabulary), i.e. an average over all positions. npo_lab follows the reference
# code for GA and the NLL terms (`ga_reduction="token_mean"`; `"sum"` gives the paper's summed GA), keeps NPO /
# DPO summed, and averages its KL term over each example's answer tokens (prompt and padding excluded).

# %%
summaries = {}
for seed in SEEDS:
    t = time.perf_counter()
    summaries[seed] = run_demo(CONFIG.replace(seed=seed, out=str(OUT / f"seed{seed}")), print_fn=lambda *a: None)
    print(f"seed {seed}: {time.perf_counter() - t:.0f} s, methods {list(summaries[seed]['methods'])}")

# %%
summary, frames = load_demo(CONFIG.out)
table = results_table(summary)
table

# %% [markdown]
# Seed 0's table. `fq_at_matched_utility` is the best forget quality among the evaluations that keep at least 80 %
# of the fine-tuned model's utility, and `first_good_epoch` the first epoch where that forget quality exceeds
# 0.05. The 80 % threshold is npo_lab's rule for reading the trade-off with one number, not the paper's (the paper
# reads its Fig. 5 as a whole). **A best-of-many number is inflated:** if a method's forget truth ratios came from
# the retain model's distribution, each evaluation's p-value would be uniform on [0, 1], and the best of *k*
# such looks exceeds 0.05 with probability $1 - 0.95^k$ (0.64 for k = 20). Section 9 reports how many evaluations
# each best value was taken over.
#
# ## 4. Forget quality versus model utility (paper Fig. 5)
#
# Each path starts near the fine-tuned model (grey star: high utility, forget quality ~ 0) and moves one marker
# per evaluation; every method has one colour in every figure of this notebook. The y axis is the paper's dual
# scale: logarithmic below 0.1, linear above; the dashed line is forget quality 0.05. The retain model (black star)
# is drawn at forget quality 1 only because it is compared with itself; an unlearned model that matched it in
# distribution would land anywhere in [0, 1] (uniform p-value), so read the paths *above the dashed line* as
# "not distinguishable by this test on 40 questions", not as a ranking.

# %%
fig, ax = plt.subplots(figsize=(7, 5))
plot_forget_quality_vs_utility(frames, finetuned=summary["finetuned"], retain={
    "model_utility": summary["retain"]["model_utility"], "forget_quality": 1.0}, ax=ax)
ax.set_title("forget quality vs model utility, one marker per evaluation");

# %% [markdown]
# ## 5. How fast does utility collapse? (paper Sec. 5, Fig. 10)
#
# The paper's central claim: NPO moves away from the fine-tuned model exponentially more slowly than gradient
# ascent (Theorem 2, for plain gradient descent). At the same settings, *steps to collapse* is the first fully
# evaluated optimiser step where model utility falls below half of the fine-tuned model's (× in the left figure;
# none if it never does). The right figure is the probes' view of every step: the utility proxy (mean answer
# probability of the sampled retain and general rows) and the forget rows' probability, with the retain model's
# forget probability dashed — where a method crosses it is its matched-forgetting step.

# %%
probes = method_probes({m: Path(CONFIG.out) / "runs" / run_dir_name(m) for m in summary["methods"]})
fig, axes = plt.subplots(1, 3, figsize=(17, 4.5), layout="constrained")
plot_utility_vs_step(frames, summary["finetuned"]["model_utility"], ax=axes[0])
for method, df in probes.items():
    axes[1].plot(df["step"], df["utility"], color=method_color(method), label=method)
    axes[2].plot(df["step"], df["forget_probability"], color=method_color(method), label=method)
axes[1].set(xlabel="optimiser step", ylabel="utility proxy (probes)", title="utility proxy, every step")
axes[2].axhline(reference["retain model"]["forget_probability"], color="k", linestyle="--",
                label="retain model (TOFU eval)")
axes[2].set(xlabel="optimiser step", ylabel="forget probability (probes)", title="forget rows, every step")
legend_outside(axes[2], fontsize=8)
collapse = pd.Series({m: s["steps_to_collapse"] for m, s in summary["methods"].items()}, name="steps to collapse")
last_step = {m: max([e["step"] for e in s["evaluations"]], default=0) for m, s in summary["methods"].items()}
print(collapse.to_string(na_rep="never"))
ga, npo = collapse.get("GA"), collapse.get("NPO")
if ga is not None and not pd.isna(ga):
    if npo is None or pd.isna(npo):
        print(f"GA collapses at step {ga:g}; NPO does not collapse within {last_step.get('NPO', 0)} steps "
              f"(ratio > {last_step.get('NPO', 0) / ga:.1f}).")
    else:
        print(f"NPO / GA steps to collapse: {npo:g} / {ga:g} = {npo / ga:.2f}")

# %% [markdown]
# ## 6. Over epochs: forget quality, utility, forget probability and forget KL (paper Figs. 6, 10)
#
# What the paper leads us to expect, to be checked on the four panels of this run: GA drives the forget probability
# towards zero and keeps going, so the forget KL keeps growing and model utility falls with it. NPO's adaptive
# weight $2\sigma(\beta\cdot\text{log-ratio})$ fades once a forget answer is unlikely enough, so its divergence
# slows down; the retain term (RT) repairs the utility lost on the way.

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
# ## 7. NPO's adaptive weight on a language model (paper Sec. 3)
#
# NPO's gradient is the summed GA's per-sequence gradient times
# $W = 2\sigma(\beta\cdot(\log\pi_\theta - \log\pi_{\text{ref}}))$: $W = 1$ at the start (log-ratio 0) and $W \to 0$ as a
# forget answer becomes unlikely. The GA this demo runs is the reference code's *token mean*: its loss is the
# batch's summed log-prob divided by the batch's answer-token count $\sum_i|y_i|$, so on the same per-sequence scale
# its weight is $B/\sum_i|y_i|$ for every sequence of a batch — constant over training, and about one over the mean
# answer length (the dotted line). Adam rescales every update by a running gradient scale, so a *uniformly* smaller
# weight hardly changes the step: what matters is how W differs *across* examples and over time. The probes record
# every forget row's W after every step (`probes.jsonl`).

# %%
def npo_weights(method):
    df = probes.get(method)
    return [] if df is None or "W_rows" not in df else [(s, np.asarray(w)) for s, w in zip(df["step"], df["W_rows"])]


n_answer = token_count(ForgetRetainCollator(setting.tokenizer, max_length=setting.config.max_length)(
    [{"forget": r, "retain": setting.retain_rows[0]} for r in setting.forget_rows])["forget"]["labels"]).double()
ga_weight = 1 / n_answer.mean().item()  # B / Σ|y| for a batch of mean-length answers
fig, axes = plt.subplots(1, 2, figsize=(14, 4.5), layout="constrained")  # legends beside the axes
for method in [m for m in ("NPO", "NPO+RT") if m in probes]:
    w = npo_weights(method)
    steps = [s for s, _ in w]
    q = np.array([np.quantile(x, [0.1, 0.5, 0.9]) for _, x in w]).reshape(-1, 3)
    (line,) = axes[0].plot(steps, q[:, 1], color=method_color(method), label=f"{method}: median W")
    axes[0].fill_between(steps, q[:, 0], q[:, 2], color=line.get_color(), alpha=0.2, label=f"{method}: 10–90 %")
axes[0].axhline(ga_weight, color=method_color("GA"), linestyle=":", label=f"GA (token mean): B/Σ|y| ≈ {ga_weight:.3f}")
axes[0].axhline(1.0, color="k", linestyle="--", linewidth=0.8, label="summed GA: 1")
axes[0].set(xlabel="optimiser step", ylabel="weight per forget example", title="NPO's weight W over training")
legend_outside(axes[0], fontsize=8)
w = npo_weights("NPO") if "NPO" in frames else []
for step, x in [w[0], w[len(w) // 2], w[-1]] if w else []:
    axes[1].hist(x, bins=np.linspace(0, 2, 41), alpha=0.5, label=f"step {step}")
axes[1].set(xlabel="W = 2σ(β · log-ratio)", ylabel="forget examples", title="NPO: distribution of W")
legend = legend_outside(axes[1], fontsize=8)

# %% [markdown]
# ### Write it yourself: the NPO+RT loss of one batch
#
# Take 8 forget rows and 8 retain rows, let the **retain model** play π_θ (it never saw the forget authors, so
# the log-ratios are far from 0) and the fine-tuned model π_ref. Compute with `sequence_logprob`:
#
# $$\mathcal L = \frac1B\sum_i \frac2\beta \log\bigl(1 + e^{\beta(\log\pi_\theta(y_i|x_i) - \log\pi_{\text{ref}}(y_i|x_i))}\bigr)
#   \; + \; \alpha\,\frac{-\sum_i \log\pi_\theta(y^r_i|x^r_i)}{\sum_i |y^r_i|}$$
#
# (NPO summed per sequence, the retain NLL as the batch token-mean) and check it against the trainer's loss:
# `Unlearner.compute_loss` returns `Method.loss(...)[0].mean()`.

# %%
collate = ForgetRetainCollator(setting.tokenizer, max_length=setting.config.max_length)
batch = collate([{"forget": setting.forget_rows[i], "retain": setting.retain_rows[i]} for i in range(8)])
f, r = batch["forget"], batch["retain"]
theta, ref = setting.retain_model, setting.model
with torch.no_grad():
    logp = sequence_logprob(theta(input_ids=f["input_ids"], attention_mask=f["attention_mask"]).logits, f["labels"])
    ref_logp = sequence_logprob(ref(input_ids=f["input_ids"], attention_mask=f["attention_mask"]).logits, f["labels"])
    r_logp = sequence_logprob(theta(input_ids=r["input_ids"], attention_mask=r["attention_mask"]).logits, r["labels"])
r_n = token_count(r["labels"])
beta, alpha = CONFIG.beta, CONFIG.resolved_alpha

# YOUR TURN: replace the two lines below by your own formula (they are one solution)
npo_term = (2 / beta) * torch.log1p(torch.exp(beta * (logp - ref_logp)))
by_hand = npo_term.mean() + alpha * (-r_logp.sum() / r_n.sum())

total, parts = get_method("NPO+RT").loss(
    LossInputs(forget_logp=logp, forget_ref_logp=ref_logp, retain_logp=r_logp, retain_n_tokens=r_n),
    beta=beta, alpha=alpha)
print(f"log-ratios: {(logp - ref_logp).numpy().round(1)}")
print(f"by hand {by_hand.item():.6f} | Method.loss {total.mean().item():.6f}")
assert torch.allclose(by_hand, total.mean(), rtol=1e-5, atol=1e-6)

# %% [markdown]
# ## 8. What does the model answer now? (paper Fig. 7)
#
# Greedy answers at the last evaluation, first to **forget** questions, then to **retain** questions. The
# repetition rate (share of repeated character 5-grams: ≈ 0 for a fluent sentence, → 1 for "DarioDarioDario…")
# puts a number on degeneration. Look at both tables: a method can only claim to have *unlearned* if it still
# answers the retain questions fluently and correctly. Compare with the paper's example answers of 7B models (its
# Fig. 7).

# %%
answers = answers_table(CONFIG.out, split="forget")
answers.head(3).T

# %%
retain_answers = answers_table(CONFIG.out, split="retain")
retain_answers.head(2).T

# %%
cols = [c for c in answers.columns if c != "question"]
repetition = pd.DataFrame(
    {"forget questions": {c: answers[c].dropna().map(repetition_rate).mean() for c in cols},
     "retain questions": {c: retain_answers[c].dropna().map(repetition_rate).mean() for c in cols}}
).round(2).rename(index={"answer": "ground truth"})
repetition

# %% [markdown]
# ## 9. β on a real model: small β behaves like GA (Proposition 1)
#
# As β → 0, NPO's gradient tends to the *summed* GA's (Proposition 1: $W = 2\sigma(\beta\cdot\text{log-ratio}) \to 1$
# for any fixed log-ratio). Below, one short run per β on the same fine-tuned model with the demo's optimiser,
# learning rate and schedule, and the summed GA beside them; only the probes run (no full evaluation), so it
# costs seconds per run. Left: the utility proxy over steps; right: the forgetting–utility path (forget rows'
# probability against the utility proxy; the dashed line is the retain model's forget probability, where
# forgetting is matched).

# %%
from npo_lab.unlearn import unlearn
from npo_lab.unlearn.callbacks import ProbeCallback
from npo_lab.unlearn.probes import ProbeScorer, sample_rows

BETAS = (0.01, 0.05, CONFIG.beta, 0.5, 2.0) if not is_smoke() else (0.01, CONFIG.beta)
scorer = ProbeScorer(setting.tokenizer, {
    "forget": setting.forget_rows,
    "retain": sample_rows(setting.retain_rows, CONFIG.probe_rows),
    "general": sample_rows(setting.general_rows(), CONFIG.probe_rows)}, max_length=setting.config.max_length)
target = scorer.score(setting.retain_model)["forget_probability"]
threads = torch.get_num_threads()
torch.set_num_threads(CONFIG.threads or threads)
sweep = {}
for i, (name, method, beta) in enumerate([("GA (summed)", "GA", CONFIG.beta)] + [(f"NPO β={b:g}", "NPO", b) for b in BETAS]):
    cb = ProbeCallback(scorer, beta=beta, forget_target=target)
    cfg = CONFIG.unlearn_config(method, OUT / "beta_sweep" / f"run{i}", max_length=setting.config.max_length,
                                n_forget=len(setting.forget_rows)).replace(beta=beta, ga_reduction="sum", eval_every=-1)
    unlearn(setting.fresh_model(), setting.tokenizer, setting.forget_rows, setting.retain_rows, cfg, callbacks=[cb],
            overwrite=True)
    sweep[name] = pd.DataFrame(cb.rows)
torch.set_num_threads(threads)

fig, axes = plt.subplots(1, 2, figsize=(14, 4.5), layout="constrained")
shades = plt.cm.Blues(np.linspace(0.35, 1.0, len(BETAS)))
for (name, df), color in zip(sweep.items(), [method_color("GA"), *shades]):
    axes[0].plot(df["step"], df["utility"], color=color, label=name)
    axes[1].plot(df["forget_probability"], df["utility"], color=color, label=name)
axes[0].set(xlabel="optimiser step", ylabel="utility proxy (probes)", title="utility over steps, per β")
axes[1].axvline(target, color="k", linestyle="--", linewidth=0.8)
axes[1].set(xlabel="forget probability (probes)", ylabel="utility proxy", title="forgetting–utility path")
axes[1].invert_xaxis()
legend_outside(axes[1], fontsize=8)
ga_util = sweep["GA (summed)"]["utility"].to_numpy()
gap = {name: float(np.max(np.abs(df["utility"].to_numpy() - ga_util))) for name, df in sweep.items() if name != "GA (summed)"}
print("largest utility-proxy gap from the summed GA over the run:", {k: round(v, 3) for k, v in gap.items()})
print(f"the smallest β stays closest to GA: {min(gap, key=gap.get) == f'NPO β={BETAS[0]:g}'}")

# %% [markdown]
# ## 10. Verdicts: the paper's claims at this scale, computed from the runs
#
# Each claim is a test on the demo's own numbers (`npo_lab.experiments.claims`; `demo_summary.json`'s `"claims"`).
# The thresholds are fixed before looking at the runs: GA collapses; NPO collapses at least 2× later than GA, or
# never while its forget rows reach the retain model's forget probability; at matched forgetting NPO keeps ≥ 1.5×
# GA's model utility; NPO+RT reaches forget quality ≥ 0.1 at ≥ 80 % of the fine-tuned model's utility (a best over
# several evaluations: the number looked at is printed); GA+RT differs from GA. Seed 0 first, then every seed
# (mean ± standard deviation over the seeds, and on how many seeds each claim holds).

# %%
claims_table(summary["claims"])

# %%
verdicts = seed_table({seed: summaries[seed]["claims"] for seed in SEEDS})
verdicts

# %%
for _, row in verdicts.iterrows():
    print(f"{row['verdict']:>18} at this scale ({row['reproduces_on']}/{row['seeds']} seeds): {row['claim']}")

# %% [markdown]
# ## 11. What this scale can and cannot show
#
# **Can:** that gradient ascent on an unbounded loss destroys a language model's utility along with the forget set;
# that NPO's weight fades example by example on a real model (section 7); that β sets the regime — small β is GA
# (section 9), large β stops before the forget rows reach the retain model's level; that a retain term changes
# the path (GA+RT vs GA); and whether, at one fixed setting chosen in advance, the paper's orderings hold on this
# model over several seeds (section 10).
#
# **Cannot:** the paper's numbers. The model has ~1 M parameters (the paper: 7 B), the forget set has 40 questions
# (forget quality is a KS test on 40 truth ratios: noisy, floor 1.86e-23, and its best over many evaluations is
# inflated), and the general rows are in both models' training data. Theorem 2's *logarithmic vs linear*
# divergence is a statement about plain gradient descent; with AdamW and clipping, as in every language-model
# run, the optimiser rescales the step, so the speed-up it predicts is weakened here. A collapse step of one
# seed depends on the thread count and the CPU (the training is chaotic near a collapse): the demo fixes its
# threads and records the CPU and versions in `demo.json`, and the verdicts above come from several seeds.

# %%
info = json.loads((Path(CONFIG.out) / "demo.json").read_text())
print({k: info["environment"][k] for k in ("torch_threads", "cpu", "cpu_count")}, info["environment"]["versions"])
print("methods run in:", info.get("method_workers", "this process"))

# %% [markdown]
# ## 12. The collapse laboratory
#
# A grid over optimisers, learning rates, β and seeds on the same mini models (`npo-lab collapse`) measures when
# GA and NPO collapse and how much utility each keeps at matched forgetting; its table and figures are in
# `docs/collapse/` (figures: `docs/figures/collapse_*.png`) when they have been generated. This demo's defaults
# were chosen from its table (the reason printed in section 3 quotes it).

# %%
from IPython.display import Image, display  # noqa: E402

lab = next((p / "docs" / "collapse" for p in (Path.cwd(), *Path.cwd().parents) if (p / "docs" / "collapse").is_dir()), None)
if lab is None:
    print("docs/collapse/ not found: run `npo-lab collapse` to build the laboratory's table and figures")
else:
    comp = pd.read_csv(lab / "comparison.csv")  # GA vs NPO per optimiser, lr, β and GA reduction, over seeds
    cols = ["optimiser", "lr", "beta", "n_seeds", "ga_collapse", "npo_collapse", "npo_collapsed", "collapse_ratio",
            "npo_matched", "ga_utility_matched", "npo_utility_matched", "utility_ratio"]
    print(f"GA reduction {CONFIG.ga_reduction!r} (the demo's); collapse_ratio is a lower bound where NPO never collapsed")
    display(comp[comp["ga_reduction"] == CONFIG.ga_reduction][cols].round(3).reset_index(drop=True))
    for fig_file in sorted(lab.glob("*.png")) + sorted((lab.parent / "figures").glob("collapse_*.png")):
        display(Image(filename=str(fig_file)))
print(f"notebook wall time: {time.perf_counter() - T0:.0f} s")

# %% [markdown]
# ## Summary
#
# What this run showed, read from its own numbers (the cell below prints them; nothing here is typed in by hand):
# the settings every method shared, which of the paper's claims reproduce at this scale on how many seeds, and
# where NPO's collapse came relative to GA's. The general rows are in both models' training data: the utility
# read here is what unlearning damages of knowledge both models share, not held-out generalisation.

# %%
print(f"settings shared by every method: lr {CONFIG.learning_rate:g}, β {CONFIG.beta:g}, batch {CONFIG.batch_size}, "
      f"{CONFIG.epochs:g} epochs")
for _, row in verdicts.iterrows():
    print(f"- {row['claim']}: {row['verdict']} ({row['reproduces_on']}/{row['seeds']} seeds)")
steps = {m: summary["methods"][m].get("steps_to_collapse") for m in ("GA", "NPO") if m in summary["methods"]}
print(f"- seed {SEEDS[0]}: steps to collapse (None: no collapse within the run) {steps}")

# %% [markdown]
# ## Exercises
#
# Each solution is a collapsed cell below its exercise (click to expand); it computes the answer from this run and
# checks it. The further runs the exercises suggest take minutes each on a CPU and are left to you; so are the real TOFU authors (`DemoConfig.from_preset("real-tofu", data="<path to TOFU files>")`: is the
# ordering of the methods the same?) and more methods (`"NPO+KL"`, `"SimNPO"` in `methods`: which keeps more
# utility, the retain NLL or the KL term?).
#
# **1.** Recompute every method's *steps to collapse* and *forget quality at ≥ 80 % utility* from its evaluations
# (`summary["methods"][m]["evaluations"]`: one dict per evaluation, with `step`, `model_utility` and
# `forget_quality`) and check them against the summary. Then compare the seeds of section 10
# (`summaries[seed]`): forget quality on 40 questions is noisy (notebook 05, section 6): by how much does the peak
# move from seed to seed?

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["solution"]
# Solution 1. Collapse: the first evaluated step whose utility is below 50 % of the fine-tuned model's; matched
# utility: the best forget quality among the evaluations that keep at least 80 % of it.
mu_ft = summary["finetuned"]["model_utility"]
for m, s in summary["methods"].items():
    ev = [e for e in s["evaluations"] if e.get("model_utility") is not None]
    collapsed = [e["step"] for e in ev if e["model_utility"] < COLLAPSE_FRACTION * mu_ft]
    kept = [e["forget_quality"] for e in ev
            if e["model_utility"] >= MATCHED_UTILITY_FRACTION * mu_ft and e.get("forget_quality") is not None]
    my_collapse, my_fq = (collapsed[0] if collapsed else None), (max(kept) if kept else None)
    print(f"{m:7s} steps to collapse {my_collapse}, forget quality at >= 80 % utility {my_fq}")
    assert my_collapse == s["steps_to_collapse"]
    ref_fq = s["forget_quality_at_matched_utility"]
    assert (my_fq is None and ref_fq is None) or np.isclose(my_fq, ref_fq)

# %% [markdown]
# **2.** NPO's weight $W = 2\sigma(\beta\cdot\text{log-ratio})$ falls to 0.1 at the log-ratio $-\log(19)/\beta$
# (notebook 02, exercise 1). Where is that for this run's β, and what share of the forget rows had passed it at
# NPO's last evaluation (section 7)? The log-ratio is a sum over the answer's tokens: count the forget answers'
# tokens with the collator of section 7, and give the mean log-ratio per token. Then rerun with β = 0.1 and
# β = 0.5 and compare the forget truth ratio, forget quality and collapse step.

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["solution"]
# Solution 2. W < 0.1 exactly where the log-ratio is below −log(19)/β. The longer the answers, the larger a summed
# log-ratio gets for the same per-token change: β has to be read together with the answer length.
threshold = -np.log(19) / CONFIG.beta
n_tok = token_count(collate([{"forget": r, "retain": setting.retain_rows[0]} for r in setting.forget_rows])[
    "forget"]["labels"]).double()
print(f"β = {CONFIG.beta:g}: W = 0.1 at log-ratio {threshold:.1f}; forget answers: {n_tok.mean():.1f} tokens "
      f"on average ({int(n_tok.min())} to {int(n_tok.max())})")
assert n_tok.min() >= 1 and np.isclose(2 / (1 + np.exp(-CONFIG.beta * threshold)), 0.1)
path = Path(CONFIG.out) / "runs" / run_dir_name("NPO") / "forget_log_ratios.json"
if path.exists():
    last = json.loads(path.read_text())[-1]
    ratios = np.asarray(last["log_ratios"])
    w_last = 2 / (1 + np.exp(-CONFIG.beta * ratios))
    share = np.mean(ratios < threshold)
    print(f"NPO, step {last['step']}: {share:.0%} of {ratios.size} forget rows below the threshold; "
          f"mean log-ratio {ratios.mean():.1f} ({ratios.mean() / n_tok.mean().item():.2f} per token)")
    assert abs(share - np.mean(w_last < 0.1)) <= 1 / ratios.size

# %% [markdown]
# **3.** Compute the repetition rate of section 8 by hand — the share of a text's character 5-grams that repeat
# an earlier one, after lower-casing and collapsing whitespace — for "DarioDarioDarioDario" and for the first
# ground-truth forget answer, and check it against `repetition_rate`.

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["solution"]
# Solution 3. 1 − (distinct 5-grams)/(all 5-grams): "DarioDarioDarioDario" has 16 five-grams, 5 distinct ones.
def my_repetition_rate(text, n=5):
    t = " ".join(str(text).lower().split())
    grams = [t[i : i + n] for i in range(len(t) - n + 1)]
    return 1 - len(set(grams)) / len(grams) if grams else 0.0


for text in ("DarioDarioDarioDario", answers["answer"].iloc[0]):
    print(f"{my_repetition_rate(text):.3f}  {text[:70]!r}")
    assert np.isclose(my_repetition_rate(text), repetition_rate(text))
assert np.isclose(my_repetition_rate("DarioDarioDarioDario"), 1 - 5 / 16)
