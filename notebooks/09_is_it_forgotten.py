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
# # 09 · Is it really forgotten? Auditing unlearned models
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/npo-lab/npo_lab/blob/main/notebooks/09_is_it_forgotten.ipynb)
#
# **What you will learn:** forget quality and model utility (TOFU) say what a model *answers*. A model that no
# longer answers may still *know*. Here we unlearn two fictitious authors from a tiny language model with GA, NPO,
# NPO+RT and IDK+RT and then attack each unlearned model the way the recent literature does: membership
# inference (can an attacker tell the forget answers from answers the model never saw?), MUSE's privacy leakage,
# extraction strength, a **relearning** attack (a few fine-tuning steps on half of the forget set — does the other
# half come back?), a **quantization** attack (does rounding the weights to 8 or 4 bits undo the unlearning?) and
# paraphrased questions. Every number is measured against the **retain model**, which never saw the forget
# authors: the target of unlearning.
#
# **Runtime:** a few minutes on a 2-core laptop CPU (the two reference models are cached on disk after the first
# run; each audit takes seconds per model). No GPU, no network.

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
import numpy as np
import pandas as pd

from npo_lab import is_smoke
from npo_lab.audit import (
    FIGURE_METRICS,
    AuditConfig,
    answer_stats,
    audit_data,
    audit_models,
    audit_table,
    forget_log,
    forget_metrics,
    mia_scores,
    plot_audit,
    privleak,
    quantize_tensor,
    relearned_copy,
    roc_auc,
    signal_left,
    split_halves,
)
from npo_lab.experiments import DemoConfig
from npo_lab.losses import get_method
from npo_lab.minitofu import prepare
from npo_lab.plotting import method_color, set_style
from npo_lab.unlearn import unlearn

set_style()
pd.set_option("display.precision", 3)
METHODS = ("GA", "NPO", "NPO+RT", "IDK+RT")
# the demo's settings (tiny Llama, 20 synthetic authors, forget10 = 2 authors, 10 epochs); smoke mode (CI) shrinks
# the models, the data and the epochs
DEMO = DemoConfig.smoke(methods=METHODS) if is_smoke() else DemoConfig(methods=METHODS, time_budget=None)
OUT = Path(tempfile.mkdtemp(prefix="npo_lab_09_"))
print("smoke mode:", is_smoke(), "| output:", OUT)

# %% [markdown]
# ## 1. The models: fine-tuned, retain, and four unlearned ones
#
# `prepare` trains (once, then loads from the cache) the **fine-tuned** model on all authors and the **retain**
# model on all but the forget authors; neither sees the **holdout** authors, which have the same kind of
# questions. Then each method unlearns the forget authors from a fresh copy of the fine-tuned model, with the
# demo's hyper-parameters (notebook 06).

# %%
setting = prepare(DEMO.minitofu_config(), DEMO.forget_split, progress=False)
tok = setting.tokenizer
idk = setting.idk_answers()
models = {"finetuned": setting.model, "retain": setting.retain_model}
for method in METHODS:
    cfg = DEMO.unlearn_config(method, OUT / method.replace("+", "_"), max_length=setting.config.max_length)
    cfg = cfg.replace(eval_every=-1, forget_quality=False, disable_tqdm=True)  # no evaluation during training
    run = unlearn(setting.fresh_model(), tok, setting.forget_rows, setting.retain_rows, cfg,
                  idk_answers=idk if get_method(method).needs_idk else None, eval_source=setting.source_dir,
                  forget_split=DEMO.forget_split)
    models[method] = run.model.eval()
    print(f"{method:7s} unlearned in {run.summary['seconds']['total']:.1f}s ({run.summary['global_step']} steps)")

# %% [markdown]
# ## 2. Every audit at once
#
# `audit_models` runs each audit on each model and compares it with the retain model. It needs three sets of
# rows: the forget questions (with TOFU's paraphrased and perturbed answers and paraphrased questions), holdout
# questions, and retain questions. The sections below take the table apart column by column.

# %%
AUDIT = AuditConfig(template=setting.config.template, max_length=setting.config.max_length)
if is_smoke():
    AUDIT = AuditConfig.smoke(template=AUDIT.template, max_length=AUDIT.max_length)
result = audit_models(models, tok, setting, config=AUDIT, progress=False, say=lambda line: None)
print(f"{len(models)} models audited in {result['total_seconds']:.1f}s; rows: {result['n_rows']}")
table = audit_table(result)
table

# %%
fig = plot_audit(result)

# %% [markdown]
# Each cell shows a number; its colour says how much of the fine-tuned model's signal is left:
# $r = (m - m_\text{retain}) / (m_\text{finetuned} - m_\text{retain})$ — white/0 is the target (like the retain
# model), red/1 is "nothing forgotten", blue/negative is "beyond the retain model" (over-unlearning, itself a
# giveaway).
#
# ## 3. Membership inference: can an attacker tell forget answers from unseen ones?
#
# A membership-inference attack scores each answer; a low score means "looks like training data". For answer
# tokens with log-probs $\ell_t$:
#
# * **LOSS** $= -\frac1n\sum_t \ell_t$ (Yeom et al. 2018); **zlib** = LOSS / zlib-compressed length of the answer
#   (Carlini et al. 2021): a repetitive, easily compressed answer is likely anyway;
# * **min-k %** $= -$mean of the $k\cdot n$ smallest $\ell_t$ (Shi et al. 2023): members have few surprising tokens;
# * **min-k++** standardises each log-prob by the model's own next-token distribution first,
#   $z_t = (\ell_t - \mu_t)/\sigma_t$ with $\mu_t = \mathbb E_{v\sim\pi}\log\pi(v)$, $\sigma_t^2 = \mathrm{Var}_{v\sim\pi}\log\pi(v)$
#   (Zhang et al. 2024): a token counts as surprising only relative to what the model expected there.
#
# The ROC AUC is the probability that a random holdout answer scores higher than a random forget answer
# (ties count ½). 1: the forget answers are recognisably training data; 0.5: indistinguishable from never-seen
# answers — what the retain model shows.

# %%
kw = dict(template=AUDIT.template, max_length=AUDIT.max_length, batch_size=AUDIT.batch_size)
data = audit_data(setting).limited(AUDIT.max_rows)  # the rows audit_models read
fig, axes = plt.subplots(1, 3, figsize=(14, 3.6), sharey=True)
for ax, name in zip(axes, ("finetuned", "retain", "NPO+RT")):
    f = mia_scores(answer_stats(models[name], tok, data.forget, **kw), AUDIT.k)["min_k++"]
    h = mia_scores(answer_stats(models[name], tok, data.holdout, **kw), AUDIT.k)["min_k++"]
    bins = np.linspace(min(f.min(), h.min()), max(f.max(), h.max()), 16)
    ax.hist(f, bins, alpha=0.6, color=method_color(name), label="forget (members)")
    ax.hist(h, bins, alpha=0.6, color="0.55", label="holdout (never seen)")
    ax.set_title(f"{name}: AUC = {roc_auc(f, h):.2f}")
    ax.set_xlabel("min-k++ score (higher = less member-like)")
axes[0].legend(fontsize=8)
fig.tight_layout()

# %%
table[["auc"]].join(pd.DataFrame(result["models"]).T[["auc_loss", "auc_zlib", "auc_min_k"]].astype(float))

# %% [markdown]
# **privleak** (MUSE, Shi et al. 2024) turns the AUC into a leak relative to the retain model. MUSE orients its
# AUC the other way round (≈ 0 for a memorising model), which is why open-unlearning computes it from
# $1 - \text{AUC}$:
# $$\text{privleak} = \frac{(1-\text{AUC}) - (1-\text{AUC}_\text{retain})}{1-\text{AUC}_\text{retain}}\times 100 .$$
# 0 is the target (the retain model scores exactly 0); about −100: the forget answers look like training data
# (not unlearned); large and positive: they look *less* familiar than never-seen answers (over-unlearned — an
# attacker learns membership from that too). Below it is applied to the min-k++ AUC (the table's `auc`); the
# table's `privleak` column applies it to the min-k % AUC (`AUDIT.privleak_attack`, open-unlearning's choice).

# %%
a = result["models"]
for name in models:
    print(f"{name:9s} AUC {a[name]['auc']:.3f} -> privleak {privleak(a[name]['auc'], a['retain']['auc']):+7.1f}")

# %% [markdown]
# ## 4. Extraction strength: how much of the answer follows from the question?
#
# Under teacher forcing, the model's greedy prediction at each answer position is compared with the answer.
# **Exact memorisation** is the share of answer tokens predicted exactly; **extraction strength**
# $= 1 - k^*/n$ where $k^*$ is the shortest answer prefix after which *every* remaining token is predicted
# (Wang et al. 2025): 1 means the question alone reproduces the whole answer.

# %%
pd.DataFrame(result["models"]).T[["exact_memorization", "extraction_strength", "forget_probability"]].astype(float)

# %% [markdown]
# ## 5. Relearning: a few steps on half of the forget set
#
# The forget rows are split in two halves (fixed seed). A copy of each model is fine-tuned for a few steps on the
# first half only, then asked the *second* half. A model whose unlearning only suppressed the forget facts may
# get the second half back from a nudge on the first (Hu et al. 2024; Lynch et al. 2024). **Recovery** = the
# second half's probability after relearning minus the relearned retain model's.
#
# The two halves do **not** hold different facts. `split_halves` splits rows at random, so each forget author has
# questions in both halves; every answer repeats its author's name, and birthplaces, parents and book titles
# recur across an author's questions (the cell below counts how much of the second half's names and places the
# first half already contains). Relearning on the first half therefore also *teaches* part of the second half.
#
# What the control removes: the relearned retain model gets the same steps on the same rows, and it never saw
# the forget authors, so its gain on the second half is what direct teaching of the shared facts (and of the
# answer format) gives a model with no trace of them; recovery subtracts it. What it does not remove: a model
# that once knew the authors may pick up the shared names and places faster than one that never did, and that
# counts as recovery too — so recovery mixes "suppressed knowledge comes back" with "relearns familiar facts
# faster". A cleaner, harder test relearns on some authors and measures others (exercise idea: split
# `data.forget` by author instead of by row).

# %%
import re  # noqa: E402


def proper_words(answer):
    """Capitalised words that do not start the sentence (names, places, titles, months), without a possessive."""
    return set(re.findall(r"(?<!^)(?<![.!?] )\b[A-Z][\w-]+", answer))


train_words = set().union(*(proper_words(r["answer"]) for r in split_halves(data.forget, AUDIT.seed)[0]))
held_sets = [proper_words(r["answer"]) for r in split_halves(data.forget, AUDIT.seed)[1]]
held_sets = [w for w in held_sets if w]
shared = np.mean([len(w & train_words) / len(w) for w in held_sets])
any_shared = np.mean([bool(w & train_words) for w in held_sets])
print(f"second-half answers: {shared:.0%} of their names/places/titles also occur in the first half's answers; "
      f"{any_shared:.0%} of them share at least one")

# %%
train_half, held_out = split_halves(data.forget, AUDIT.seed)
print(f"relearn on {len(train_half)} rows for {AUDIT.relearn_steps} steps (lr {AUDIT.relearn_learning_rate:g}), "
      f"measure the other {len(held_out)}")
relearn_kw = dict(steps=AUDIT.relearn_steps, learning_rate=AUDIT.relearn_learning_rate,
                  batch_size=AUDIT.relearn_batch_size, seed=AUDIT.seed, template=AUDIT.template,
                  max_length=AUDIT.max_length)
before_after = {}
for name in ("finetuned", "retain", "NPO+RT"):
    before = forget_metrics(forget_log(models[name], tok, held_out, **kw))["forget_probability"]
    after_model = relearned_copy(models[name], tok, train_half, **relearn_kw)
    after = forget_metrics(forget_log(after_model, tok, held_out, **kw))["forget_probability"]
    before_after[name] = {"held-out probability before": before, "after relearning": after}
pd.DataFrame(before_after).T

# %%
pd.DataFrame(result["models"]).T[["relearn_forget_probability", "relearn_recovery", "relearn_truth_ratio",
                                  "relearn_forget_quality"]].astype(float)

# %% [markdown]
# ## 6. Quantization: rounding the weights
#
# Deployed models are often quantized. Round-to-nearest quantization with $b$ bits maps each group of 128
# consecutive weights of a row onto $2^b$ evenly spaced levels between the group's minimum and maximum, step
# $s = (\max - \min)/(2^b-1)$, so every weight moves by at most $s/2$. An unlearning update smaller than that step
# can vanish — Zhang et al. (2025) found 4-bit quantization restoring much of the "forgotten" knowledge of
# unlearned 7B models.

# %%
w = models["NPO+RT"].model.layers[0].mlp.down_proj.weight.detach()
delta = w - setting.model.model.layers[0].mlp.down_proj.weight.detach()  # what NPO+RT changed
for bits in AUDIT.bits:
    q, scale = quantize_tensor(w, bits, AUDIT.group_size, return_scale=True)
    print(f"{bits}-bit: largest |w − q(w)| / step = {((w - q).abs().max() / scale.max()).item():.3f} (≤ 0.5); "
          f"mean step {scale.mean().item():.2e} vs mean |unlearning update| {delta.abs().mean().item():.2e}")

# %%
cols = [c for b in AUDIT.bits for c in (f"quant{b}_forget_probability", f"quant{b}_retain_probability")]
pd.DataFrame(result["models"]).T[["forget_probability", "retain_probability", *cols]].astype(float)

# %% [markdown]
# ## 7. Paraphrased questions
#
# TOFU's forget questions also come reworded. A method that learnt to refuse the exact question may still answer
# the paraphrase.

# %%
probe = ["forget_probability", "paraphrase_probability"] + (["paraphrase_rouge"] if AUDIT.generate else [])
pd.DataFrame(result["models"]).T[probe].astype(float)

# %% [markdown]
# ## 8. Which method survives which attack — at this scale?
#
# A method *survives* an audit when the share of the fine-tuned model's signal left,
# $r = (m - m_\text{retain})/(m_\text{finetuned} - m_\text{retain})$, is within ±0.25 of the retain model's; it
# *leaks* when more than half is left ($r > 0.5$) and *overshoots* when it lands beyond the retain model by more
# than a quarter of the span ($r < -0.25$; an attacker can see that too).

# %%
values, shares = signal_left(result, list(FIGURE_METRICS))


def verdict(r: float) -> str:
    if np.isnan(r):
        return "n/a"
    return "survives" if abs(r) <= 0.25 else "leaks" if r > 0.5 else "overshoots" if r < -0.25 else "partial"


verdicts = shares.loc[list(METHODS)].map(verdict)
verdicts

# %%
for method in METHODS:
    ok = [c for c in verdicts.columns if verdicts.loc[method, c] == "survives"]
    bad = [c for c in verdicts.columns if verdicts.loc[method, c] in ("leaks", "overshoots")]
    print(f"{method:7s} survives {len(ok)}/{len(verdicts.columns)}: {', '.join(ok) or '—'}"
          f" | fails: {', '.join(f'{c} ({verdicts.loc[method, c]})' for c in bad) or '—'}")

# %% [markdown]
# ## Summary
#
# * Answering "I don't know" or giving a wrong answer is not the same as not knowing. The audits look at the
#   probabilities behind the answers (membership inference, extraction) and at how easily the answers come back
#   (relearning, quantization, paraphrases).
# * Every audit has the retain model as its target, and missing it on *either* side is a signal: a model whose
#   forget answers have become far less likely than never-seen answers (GA's collapse) is as recognisable as one
#   that still knows them — privleak is large and positive instead of close to −100.
# * The verdicts above are computed on this tiny model and one seed; `bench/bench_audit.py --seeds 0 1 2` repeats
#   them over seeds. Relearning and quantization results at 7B scale (Hu et al. 2024; Zhang et al. 2025) depend on
#   the learning rate of unlearning and the size of the update relative to the quantization step.
# * `npo-lab demo --audit` runs the same audits as the demo's last step (`audit.json`, `audit.csv`,
#   `figures/audit.png`, and the headline numbers in `demo_summary.json`).
#
# ## Exercises
#
# **1.** Compute the AUC of forget scores $(1.2, 0.8, 2.0)$ against holdout scores $(2.0, 3.1)$ by counting pairs
# (ties count ½), and check it with `roc_auc`.

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["solution"]
# Solution 1. Holdout 2.0 beats 1.2 and 0.8 and ties 2.0: 2.5 pairs; holdout 3.1 beats all three: 3 pairs.
# AUC = 5.5 / (3 · 2) = 11/12 ≈ 0.917.
auc_by_hand = (2 + 0.5 + 3) / 6
print(f"by hand {auc_by_hand:.4f}, roc_auc {roc_auc([1.2, 0.8, 2.0], [2.0, 3.1]):.4f}")
assert abs(roc_auc([1.2, 0.8, 2.0], [2.0, 3.1]) - 11 / 12) < 1e-12

# %% [markdown]
# **2.** With the retain model's AUC at 0.5, which AUC gives privleak = +50? Then recompute the fine-tuned
# model's privleak from the two AUCs of the attack `AUDIT.privleak_attack` in `result` and compare it with the
# table.

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["solution"]
# Solution 2. ((1 − a) − 0.5) / 0.5 · 100 = 50  ⇔  1 − a = 0.75  ⇔  a = 0.25: forget answers *less* familiar than
# unseen ones. The fine-tuned model's privleak follows from its AUC and the retain model's.
assert abs(privleak(0.25, 0.5) - 50) < 1e-6
att = f"auc_{AUDIT.privleak_attack}"  # the AUC the table's privleak is computed from (min-k %)
a_ft, a_rt = result["models"]["finetuned"][att], result["models"]["retain"][att]
by_hand = ((1 - a_ft) - (1 - a_rt)) / (1 - a_rt) * 100
print(f"fine-tuned privleak by hand {by_hand:.2f}, in the table {result['models']['finetuned']['privleak']:.2f}")
assert abs(by_hand - result["models"]["finetuned"]["privleak"]) < 1e-6

# %% [markdown]
# **3.** What is the largest possible change of a weight under 4-bit quantization, as a fraction of its group's
# range $\max - \min$? Check it on every linear layer of the NPO+RT model.

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["solution"]
# Solution 3. The step is range / (2^4 − 1) = range / 15 and a weight moves by at most half a step: range / 30.
import torch  # noqa: E402

worst = 0.0
for module in models["NPO+RT"].modules():
    if isinstance(module, torch.nn.Linear):
        wq = module.weight.detach()
        groups = torch.split(wq, AUDIT.group_size, dim=-1)
        qg = torch.split(quantize_tensor(wq, 4, AUDIT.group_size), AUDIT.group_size, dim=-1)
        for g, gq in zip(groups, qg):
            rng = (g.amax(-1) - g.amin(-1)).clamp(min=1e-12)
            worst = max(worst, ((g - gq).abs().amax(-1) / rng).max().item())
print(f"largest |w − q(w)| / range = {worst:.5f}, bound 1/30 = {1 / 30:.5f}")
assert worst <= 1 / 30 + 1e-6

# %% [markdown]
# **4.** Reproduce NPO+RT's relearning recovery from the table by hand: relearn copies of NPO+RT and of the retain
# model on the first half with the audit's settings and compare their probabilities on the second half.

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["solution"]
# Solution 4. The relearning is seeded (halves and batches), so the copies are the ones the audit trained.
p = {name: forget_metrics(forget_log(relearned_copy(models[name], tok, train_half, **relearn_kw), tok, held_out,
                                     **kw))["forget_probability"] for name in ("NPO+RT", "retain")}
recovery = p["NPO+RT"] - p["retain"]
print(f"recovery by hand {recovery:+.4f}, in the table {result['models']['NPO+RT']['relearn_recovery']:+.4f}")
assert abs(recovery - result["models"]["NPO+RT"]["relearn_recovery"]) < 1e-5
