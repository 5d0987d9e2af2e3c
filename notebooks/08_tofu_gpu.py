# ---
# jupyter:
#   accelerator: GPU
#   colab:
#     gpuType: T4
#     name: 08_tofu_gpu.ipynb
#     provenance: []
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: accelerator,colab
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
# # 08 · NPO on real TOFU, on a GPU
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/npo-lab/npo_lab/blob/main/notebooks/08_tofu_gpu.ipynb)
#
# **What you will learn:** how the paper's TOFU experiment looks on a real fine-tuned model: gradient ascent (GA),
# NPO and NPO+RT unlearn the `forget10` authors from a TOFU checkpoint downloaded from the hub; forget quality is
# measured against the *retain model* (fine-tuned without those authors), and you see GA collapse into gibberish
# while NPO+RT forgets and keeps talking — plus what it costs in GPU memory and time, with LoRA for small cards
# and the multi-GPU recipe for big models.
#
# **Runtime and hardware:** a Colab **GPU runtime** (Runtime → Change runtime type → GPU). Default model
# `open-unlearning/tofu_Llama-3.2-1B-Instruct_full`. §1 estimates memory and time for your card and picks a plan
# (how many methods, how often and on how many rows to evaluate) that fits a free Colab session; those figures
# are **estimates** (derived from the settings, with named assumptions in `npo_lab.gpu.plan`) until your run
# measures them in §6. A free runtime's disk is wiped on disconnect: keep the runs on Google Drive (§0b) if you
# want a rerun to skip completed runs and resume an interrupted one. With `NPO_LAB_SMOKE=1` the same code runs on
# a tiny random model on a CPU (that is how the test suite executes this notebook). Mirrors Figs. 5 and 6 of the
# NPO paper (arXiv 2404.05868).

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
# ## 0. Settings
#
# Pick a checkpoint; everything else follows from it. The registry `npo_lab.tofu.checkpoints` records, for each
# public TOFU checkpoint, the prompt format it was fine-tuned with — unlearning and evaluation must use the
# **same** one. The open-unlearning Llama-3.x checkpoints were trained with the system prompt "You are a helpful
# assistant." and a fixed date string (Llama-3's chat template otherwise writes *today's* date into every prompt,
# so prompts would change from day to day). The retain reference for forget quality is a retain model to
# evaluate here, or TOFU's published evaluation log.
#
# The paper's hyper-parameters (Sec. 5): AdamW, learning rate 1e-5, weight decay 0.01, effective batch 32,
# 10 epochs, linear warm-up over the first epoch, β = 0.1, retain weight α = 1; the schedule (epochs, batches,
# evaluations) is the *plan* of §1.

# %%
import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import torch
from IPython.display import display

from npo_lab import is_smoke, plotting
from npo_lab.experiments.reports import answers_table, samples_from_log
from npo_lab.gpu import load, plan, session
from npo_lab.runs import load_run
from npo_lab.tofu.checkpoints import CHECKPOINTS, get_checkpoint
from npo_lab.tofu.data import load_tofu, retain_split_for
from npo_lab.tofu.logs import load_reference_log
from npo_lab.tofu.metrics import summarize
from npo_lab.tofu.templates import get_template, guess_template

SMOKE = is_smoke()
CHECKPOINT = "open-unlearning/tofu_Llama-3.2-1B-Instruct_full"
FORGET_SPLIT = "forget10"
PLAN = None  # None: the first plan of session.SESSION_PLANS that fits SESSION_MINUTES (§1); or session.SESSION_PLANS[0]
SESSION_MINUTES = session.FREE_COLAB_MINUTES
USE_LORA = None  # None: LoRA when full fine-tuning would not fit the card (§1); True / False to force
LORA_R = 16
USE_DRIVE = False  # True on Colab: runs go to Google Drive, survive a disconnect and resume (§0b)
HUB_LOGIN = False  # True for gated models (e.g. meta-llama/*): log in to the hub (§0c)
TRUST_REMOTE_CODE = False  # only if a checkpoint's architecture is unknown to your transformers version

LEARNING_RATE = 1e-5  # full fine-tuning, the paper's
LORA_LEARNING_RATE = 1e-4  # NOT the paper's: a rank-16 adapter barely moves at 1e-5 (an untested starting point)
BETA, ALPHA = 0.1, 1.0
WARMUP_EPOCHS, WEIGHT_DECAY = 1.0, 0.01
N_SAMPLES = 5  # greedy answers kept per evaluation (for the answers table)

CKPT = get_checkpoint(CHECKPOINT)
REGISTRY = pd.DataFrame(
    {
        "parameters (B)": c.n_params / 1e9,
        "template": c.template,
        "system prompt": c.system_prompt,
        "date string": c.date_string,
        "retain reference": c.retain_model or "published log: " + c.reference_log,
    }
    for c in CHECKPOINTS.values()
).set_axis([c.hub_id for c in CHECKPOINTS.values()])
with pd.option_context("display.max_colwidth", 60, "display.width", 200):
    display(REGISTRY.round(2))

# %% [markdown]
# ### 0a. The device
#
# On a CPU (smoke mode) the estimates below are those of a free Colab T4.

# %%
CUDA = torch.cuda.is_available()
if not CUDA and not SMOKE:
    raise RuntimeError(
        "No GPU: choose Runtime → Change runtime type → GPU (Colab), or set NPO_LAB_SMOKE=1 to run "
        "the tiny CPU version of this notebook."
    )
DEVICE_NAME = torch.cuda.get_device_name(0) if CUDA else "cpu"
GPU_GIB = torch.cuda.get_device_properties(0).total_memory / plan.GIB if CUDA else None
CARD = plan.find_card(DEVICE_NAME) or plan.get_card("T4")
if CUDA and plan.find_card(DEVICE_NAME) is None:
    print(f"{DEVICE_NAME} is not in npo_lab.gpu.plan.CARDS: estimating with the {CARD.name}'s speed")
if CUDA:
    torch.backends.cuda.matmul.allow_tf32 = True
print(f"device: {DEVICE_NAME}" + (f" ({GPU_GIB:.1f} GiB)" if GPU_GIB else "") + f"; smoke mode: {SMOKE}")

# %% [markdown]
# ### 0b. Optional: keep the runs on Google Drive
#
# A Colab runtime's disk (`/content`) is wiped when the runtime disconnects or is recycled, and the runs written
# there go with it: a rerun then starts every run again. With `USE_DRIVE = True` the runs go to
# `MyDrive/npo_lab_runs` instead (Colab asks for permission): a rerun after a disconnect reads the saved
# evaluations of the fine-tuned and retain models, skips the completed runs and resumes an interrupted one from
# its last checkpoint. Elsewhere, `NPO_LAB_RUNS` chooses the directory.

# %%
RUNS_ROOT = Path(os.environ.get("NPO_LAB_RUNS", "runs"))
if USE_DRIVE and not SMOKE:
    RUNS_ROOT = session.mount_drive("npo_lab_runs")
print(f"runs under {RUNS_ROOT.resolve()}")

# %% [markdown]
# ### 0c. Optional: log in to the Hugging Face hub
#
# The default checkpoints are public. Gated models (the `meta-llama/*` base models, for instance) need a login
# after you accept their licence on the model's page: `session.hub_login()` uses the `HF_TOKEN` secret or
# environment variable if there is one, else asks for a token.

# %%
if HUB_LOGIN and not SMOKE:
    session.hub_login()

# %% [markdown]
# ## 1. Will it fit, and how long will it take? (estimates)
#
# `npo_lab.gpu.plan` derives the figures from the model's configuration (built on the meta device: no download)
# and from the very settings the runs below use:
#
# * **memory**: 16 bytes per trained parameter with AdamW and fp32 master weights (4 weight + 4 gradient + 8 for
#   Adam's m and v); with LoRA the frozen base costs 2 bytes per parameter and only the adapters pay the 16.
#   At lr 1e-5 an Adam step (≈ 1e-5 per weight) is below bf16's resolution for weights of size ≈ 0.02, which is
#   why the master weights stay in fp32. Activations with gradient checkpointing, and the logits (≈ `10·B·T·V`
#   bytes per sequence group: Llama-3's 128 k vocabulary makes them large). The reference log-probs of the forget
#   answers are cached once before training, so NPO needs **no second copy** of the model.
# * **training**: `2N` FLOPs per token forward, `4N` backward (`2N` with a frozen base), `+2N` for the
#   recomputed forward; optimiser steps per epoch = ⌈forget rows / effective batch⌉; at an assumed fraction of the
#   card's peak (MFU).
# * **evaluation** (every evaluation of every run, plus the fine-tuned and retain models): the rows per eval set,
#   the evaluation batch size and the generation length give the scoring passes and the decoding steps; a
#   decoding step reads all weights once and costs at least an assumed per-layer overhead (Python and kernel
#   launches), which gives the decoding throughput per card.
#
# The plan: the paper evaluates every epoch on 300 rows per eval set, for each method; `session.choose_plan`
# takes the first plan of `session.SESSION_PLANS` (evaluate every 2nd epoch, then on 100 rows, then NPO+RT
# alone) whose estimate fits `SESSION_MINUTES`. Forget quality measured on 100 rows is a different statistic
# from the paper's 300 (a KS test's p-value depends on n): compare only runs with the same n (notebook 05).

# %%
N_FORGET_TOFU = plan.forget_rows(FORGET_SPLIT)
EXTRA_EVALUATIONS = 1 + bool(CKPT.retain_model)  # the fine-tuned model, and the retain model if evaluated here
LORA = bool(USE_LORA) if USE_LORA is not None else (not CUDA or session.needs_lora(CHECKPOINT, GPU_GIB))
PAPER = session.SESSION_PLANS[0]
table = [
    plan.estimate(
        CHECKPOINT,
        card,
        PAPER.configs(N_FORGET_TOFU, **session.run_settings(CHECKPOINT, lora_r=LORA_R * lora)),
        forget_split=FORGET_SPLIT,
        extra_evaluations=EXTRA_EVALUATIONS,
    ).row()
    for card in ("T4 16GB", "L4 24GB", "A100 40GB", "H100 80GB")
    for lora in (False, True)
]
print(f"ESTIMATES for the paper's plan ({PAPER.name}; {', '.join(PAPER.methods)}), not measurements:")
print(pd.DataFrame(table).to_string(index=False))

SETTINGS = session.run_settings(CHECKPOINT, lora_r=LORA_R if LORA else 0)
if PLAN is None:
    PLAN, ESTIMATE = session.choose_plan(
        CHECKPOINT,
        CARD,
        budget_minutes=SESSION_MINUTES,
        forget_split=FORGET_SPLIT,
        extra_evaluations=EXTRA_EVALUATIONS,
        **SETTINGS,
    )
else:
    ESTIMATE = plan.estimate(
        CHECKPOINT,
        CARD,
        PLAN.configs(N_FORGET_TOFU, **SETTINGS),
        forget_split=FORGET_SPLIT,
        extra_evaluations=EXTRA_EVALUATIONS,
    )
print(f"\nthis session's plan: {PLAN.name}; methods {', '.join(PLAN.methods)}")
print(ESTIMATE.summary())
if ESTIMATE.total_minutes > SESSION_MINUTES:
    print(f"even the cheapest plan is estimated above {SESSION_MINUTES} min: keep the runs on Drive (§0b) and rerun")

# %% [markdown]
# Read the table as: full fine-tuning of a 1 B model does not fit a 16 GB card, LoRA does; a 7 B model's full
# fine-tuning is a multi-GPU job (`docs/multi_gpu.md`). Evaluation with generation, not training, dominates the
# time. Checkpoints for resuming are written at every evaluation when they are small (LoRA adapters with their
# optimiser state); full fine-tuning's (12 bytes per parameter) are not, so an interrupted full run restarts.

# %%
PRECISION, MODEL_DTYPE = load.precision_for(LORA)
LR = LORA_LEARNING_RATE if LORA else LEARNING_RATE
RUN_PLAN = PLAN
if SMOKE:  # sizes only: the code below is the same
    RUN_PLAN = PLAN.replace(
        epochs=2, effective_batch=4, eval_max_rows=4, eval_batch_size=8, max_new_tokens=4, max_length=128
    )
N_FORGET = N_RETAIN = 8 if SMOKE else None  # None: the whole split
# one directory per checkpoint, mode and evaluation schedule, so that runs of another setting are never mixed
RUNS_DIR = (
    RUNS_ROOT
    / ("08_tofu_gpu_smoke" if SMOKE else "08_tofu_gpu")
    / f"{CHECKPOINT.split('/')[-1]}_{'lora' if LORA else 'full'}_n{RUN_PLAN.eval_max_rows}_every{RUN_PLAN.eval_every_epochs}"
)
print(f"LoRA: {LORA} (r={LORA_R})  learning rate {LR}  precision {PRECISION}  weights loaded as {MODEL_DTYPE}")
print(f"runs and eval logs: {RUNS_DIR}")

# %% [markdown]
# ## 2. Data, tokenizer, model, prompt
#
# `load_tofu` reads the TOFU splits (hub `locuslab/TOFU`, or a local copy in `$NPO_LAB_TOFU_DIR`). The forget set
# is `forget10` (the last 20 authors, 400 questions); the retain set is its complement `retain90`. The tokenizer
# and model come from `npo_lab.gpu.load` (a checkpoint without a tokenizer gets its base model's; weights in the
# dtype of §1, straight onto the GPU). In smoke mode the "checkpoint" is a tiny randomly initialised Llama-style
# model with a byte-level BPE tokenizer trained on the rows used (`npo_lab.minitofu`), and the data are the
# bundled synthetic authors; everything after this cell is the same code.

# %%
SOURCE = None if (SMOKE or os.environ.get("NPO_LAB_TOFU_DIR")) else "hub"
forget_rows = load_tofu(FORGET_SPLIT, SOURCE)
retain_rows = load_tofu(retain_split_for(FORGET_SPLIT), SOURCE)
if N_FORGET:
    forget_rows = forget_rows.select(range(min(N_FORGET, len(forget_rows))))
    retain_rows = retain_rows.select(range(min(N_RETAIN, len(retain_rows))))
print(f"forget: {len(forget_rows)} rows, retain: {len(retain_rows)} rows")

if SMOKE:
    from npo_lab.minitofu import tiny_llama, train_tokenizer

    texts = [r["question"] + " " + r["answer"] for r in list(forget_rows) + list(retain_rows)]
    tokenizer = train_tokenizer(texts, vocab_size=512)
    SEEDS = {CHECKPOINT: 0, CKPT.retain_model: 1}  # fine-tuned and "retain" stand-ins

    def get_model(name):
        return tiny_llama(tokenizer, hidden_size=64, num_layers=2, num_heads=4, seed=SEEDS[name])

    TEMPLATE = guess_template("tiny", tokenizer)
else:
    tokenizer = load.load_tokenizer(CHECKPOINT, trust_remote_code=TRUST_REMOTE_CODE)

    def get_model(name):
        return load.load_model(name, dtype=MODEL_DTYPE, trust_remote_code=TRUST_REMOTE_CODE)

    TEMPLATE = CKPT.template
SETTINGS["template"] = TEMPLATE
print(f"template {TEMPLATE!r}; the first forget question as the model sees it:")
print(repr(get_template(TEMPLATE).prompt(forget_rows[0]["question"], tokenizer)))

# %% [markdown]
# ## 3. The two reference points: the fine-tuned model and the retain model
#
# *Forget quality* is the KS-test p-value between the forget-set truth ratios of a model and those of the **retain
# model** (notebook 05). For the Llama-3.x checkpoints we evaluate the published `_retain90` model with the same
# code; for phi-1.5 and Llama-2-7B we read TOFU's published evaluation logs (computed by TOFU's own code, so small
# differences in tokenisation can shift the comparison). We also evaluate the fine-tuned model once: it is every
# run's epoch 0. Both logs are saved in the runs directory, and a rerun reads them.

# %%
EVAL_KW = dict(
    source=SOURCE,
    forget_split=FORGET_SPLIT,
    template=TEMPLATE,
    max_rows=RUN_PLAN.eval_max_rows,
    batch_size=RUN_PLAN.eval_batch_size,
    max_new_tokens=RUN_PLAN.max_new_tokens,
    max_length=RUN_PLAN.max_length,
)
if CKPT.retain_model:
    retain_log = session.evaluated_log(
        RUNS_DIR / "retain_model_eval_log.json", lambda: get_model(CKPT.retain_model), tokenizer, **EVAL_KW
    )
else:
    retain_log = load_reference_log("retain90", model=CKPT.reference_log)
finetuned_log = session.evaluated_log(
    RUNS_DIR / "finetuned_eval_log.json", lambda: get_model(CHECKPOINT), tokenizer, **EVAL_KW
)
retain_summary = summarize(retain_log, retain_log)
finetuned_summary = summarize(finetuned_log, retain_log)
# the fine-tuned model's greedy answers, for the answers table of §6
samples = pd.DataFrame(samples_from_log(finetuned_log, N_SAMPLES))
samples.to_json(RUNS_DIR / "answers_finetuned.json", orient="records", indent=1)
KEYS = ["model_utility", "forget_quality", "forget_probability", "forget_truth_ratio", "forget_rouge", "n_forget"]
print(pd.DataFrame({"fine-tuned": finetuned_summary, "retain model": retain_summary}).loc[KEYS])

# %% [markdown]
# The fine-tuned model knows the forget authors (high forget probability and ROUGE), and its forget quality is tiny:
# its truth ratios on the forget set are nothing like the retain model's. Unlearning should move the forget quality
# up towards 1 **without** giving up model utility.
#
# ## 4. Unlearning
#
# One run per method, each from a freshly loaded checkpoint: `session.run_or_resume` calls
# `npo_lab.unlearn.unlearn`, which builds the `Unlearner` (a `transformers.Trainer`), caches the reference
# log-probs of the forget answers once, trains, evaluates on the plan's schedule, and writes the run record
# (`config.json`, `metrics.jsonl`, `samples.jsonl`, `summary.json`). If the run's directory already holds the
# completed run, it is skipped; if it holds an interrupted one with a checkpoint, it resumes from there (the
# settings must be the same experiment: a changed hyper-parameter is refused, naming it).

# %%
CONFIGS = RUN_PLAN.configs(
    len(forget_rows),
    runs_dir=RUNS_DIR / "runs",
    **SETTINGS,
    learning_rate=LR,
    beta=BETA,
    alpha=ALPHA,
    warmup_epochs=WARMUP_EPOCHS,
    weight_decay=WEIGHT_DECAY,
    num_samples=N_SAMPLES,
    precision=PRECISION,
    seed=0,
)
MEASURED = {}
for config in CONFIGS:
    if CUDA:
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    result = session.run_or_resume(
        config,
        lambda: get_model(CHECKPOINT),
        tokenizer,
        forget_rows,
        retain_rows,
        retain_log=retain_log,
        eval_source=SOURCE,
        forget_split=FORGET_SPLIT,
    )
    if result is None:
        print(f"{config.method}: completed earlier in {config.output_dir}")
        continue
    MEASURED[config.method] = {
        "device": DEVICE_NAME,
        "LoRA": LORA,
        "precision": PRECISION,
        "wall min": (time.perf_counter() - t0) / 60,
        "evaluation min": result.summary["seconds"]["evaluation"] / 60,
        "peak GPU GiB": torch.cuda.max_memory_allocated() / plan.GIB if CUDA else float("nan"),
    }
    final = result.summary["final"] or {}
    print(
        f"{config.method}: {result.summary['global_step']} steps, forget quality {final.get('forget_quality')}, "
        f"model utility {final.get('model_utility')}"
    )
    del result
    load.free_memory()

# %% [markdown]
# ## 5. Forget quality against model utility
#
# Every run is read back from its record with `load_run`; the fine-tuned model's evaluation is prepended as epoch 0.
# The paper's Fig. 5: a path per method from the fine-tuned model (star) over the epochs. GA jumps to high forget
# quality for a moment and then loses model utility altogether; NPO is slower and keeps more; NPO+RT keeps model
# utility near the fine-tuned level while forget quality rises.

# %%
plotting.set_style()
epoch0 = {"step": 0, "epoch": 0.0, **finetuned_summary}
frames = {c.method: pd.concat([pd.DataFrame([epoch0]), load_run(c.output_dir)], ignore_index=True) for c in CONFIGS}
ax = plotting.plot_forget_quality_vs_utility(frames, finetuned=finetuned_summary, retain=retain_summary)
ax.set_title(f"{CHECKPOINT.split('/')[-1]}, {FORGET_SPLIT}" + (" (smoke)" if SMOKE else ""))
plt.show();

# %% [markdown]
# The per-epoch curves (paper Fig. 6): forget quality (log scale below 0.1), model utility with the fine-tuned and
# retain models' levels, and the probability of the forget answers — GA drives it to zero, far below the retain
# model's level, which is *over*-forgetting: a model that never saw these authors still assigns their answers some
# probability.

# %%
axes = plotting.plot_run_panels(frames, finetuned=finetuned_summary, retain=retain_summary)
plt.tight_layout()
plt.show();

# %% [markdown]
# Your run next to the published numbers of the registry (open-unlearning's `docs/repro.md` for the Llama-3.2-1B
# checkpoints, TOFU's logs for Llama-2-7B). open-unlearning's NPO adds the retain NLL term (our NPO+RT) and its
# GradDiff is our GA+RT; methods without a published counterpart show none. The published forget quality is
# measured on all forget rows: compare it only with a run evaluated on as many (`n forget`).

# %%
ours = {"finetuned": finetuned_summary, "retain": retain_summary, **{m: f.iloc[-1] for m, f in frames.items()}}
COMPARISON = session.compare_with_published(CHECKPOINT, ours, FORGET_SPLIT)
with pd.option_context("display.max_colwidth", 50, "display.width", 200):
    display(COMPARISON)

# %% [markdown]
# ## 6. What the models now answer, and what the card measured
#
# Greedy answers to forget questions (and to retain questions) at the last evaluation, from each run's
# `samples.jsonl`, next to the fine-tuned model's (`npo_lab.experiments.reports.answers_table`). Expect GA to
# produce gibberish or repeated tokens everywhere — it has collapsed — while NPO+RT answers fluently but
# **wrongly** about the forgotten authors and still correctly about the retained ones. (In smoke mode the tiny
# random model answers gibberish throughout: only the code path is checked.)

# %%
with pd.option_context("display.max_colwidth", 80):
    for split in ("forget", "retain"):
        print(f"{split} questions, last evaluation")
        display(answers_table(RUNS_DIR, split))

# %% [markdown]
# What your card measured in this session (runs completed in an earlier session are not re-timed), next to the
# estimate of §1. Please report the numbers (card, LoRA or not, wall time, peak memory): the estimates are only
# as good as their assumptions.

# %%
if MEASURED:
    print(pd.DataFrame(MEASURED).T.to_string(float_format=lambda v: f"{v:.1f}"))
    estimated = ", ".join(f"{m} {v:.1f}" for m, v in ESTIMATE.train_minutes.items())
    print(f"ESTIMATED training minutes per method (§1, not measured): {estimated}")
else:
    print("nothing run now")

# %% [markdown]
# ### 6b. Optional: is it really forgotten? (off by default)
#
# Set `RUN_AUDIT = True` to run the audits of notebook 09 — membership inference of forget vs holdout answers,
# privacy leakage, extraction strength, 8/4-bit quantization, paraphrased questions — on the real checkpoint
# against its retain model, the audits' target (`npo_lab.audit.audit_models`; the result is saved as
# `audit.json` beside the runs). It needs a checkpoint with a retain model in the registry (the Llama-3.x ones)
# and TOFU's holdout split. The relearning attack fine-tunes a full copy of the model (16 bytes per parameter
# with AdamW), so it is left out of `AUDITS` here: add `"relearning"` on a card with room for it. Expect minutes.

# %%
RUN_AUDIT = False  # True: audit the fine-tuned checkpoint against the retain model (minutes on a GPU)
AUDITS = ("mia", "memorization", "forget", "quantization", "paraphrase")  # + "relearning" on a large card
if RUN_AUDIT and not CKPT.retain_model:
    print(f"{CHECKPOINT} has no retain model in the registry: the audits need one")
elif RUN_AUDIT:
    from npo_lab.audit import AuditConfig, audit_models, audit_table, save_audit

    audit_kw = dict(audits=AUDITS, template=TEMPLATE, max_length=RUN_PLAN.max_length, max_rows=RUN_PLAN.eval_max_rows)
    AUDIT = (AuditConfig.smoke if SMOKE else AuditConfig)(batch_size=RUN_PLAN.eval_batch_size, **audit_kw)
    audited = {"finetuned": get_model(CHECKPOINT), "retain": get_model(CKPT.retain_model)}
    AUDIT_RESULT = audit_models(audited, tokenizer, SOURCE, config=AUDIT, forget_split=FORGET_SPLIT)
    save_audit(AUDIT_RESULT, RUNS_DIR / "audit.json")
    display(audit_table(AUDIT_RESULT))
    del audited
    load.free_memory()

# %% [markdown]
# ## Beyond one GPU
#
# The same engine runs on several GPUs through `accelerate`: the command line `npo-lab unlearn` takes the options
# of `UnlearnConfig`, and the accelerate config files ship with the package (`npo_lab/gpu/accelerate/`;
# `python -m npo_lab.gpu NAME` prints a file's path). For example NPO+RT on Llama-2-7B with DeepSpeed ZeRO-3 on
# 4 GPUs (effective batch 2 × 4 × 4 = 32), from the repository root:
#
# ```bash
# accelerate launch --config_file npo_lab/gpu/accelerate/deepspeed_zero3.yaml --num_processes 4 \
#     -m npo_lab.cli unlearn --model locuslab/tofu_ft_llama2-7b --data hub --forget forget10 --method NPO+RT \
#     --precision bf16 --batch-size 2 --grad-accum 4 --eval-every -1 --no-eval-at-start --no-forget-quality \
#     --gradient-checkpointing --save-model --out runs/llama2_npo_rt
# ```
#
# `docs/multi_gpu.md` has the DDP and ZeRO-3 recipes, LoRA on the command line, and the memory arithmetic.
#
# ## Summary
#
# * On a real TOFU checkpoint, unlearning is one call per method; the reference log-probs are cached, so NPO costs
#   no more memory than gradient ascent.
# * The prompt must be the checkpoint's own (system prompt and fixed date for the Llama-3.x checkpoints), and
#   forget quality only means something against a retain model evaluated the same way (same template, same n).
# * The paper reports (Figs. 5, 6) that GA reaches the forget set fastest and destroys the model, that NPO slows
#   the collapse down and that NPO+RT keeps model utility while the forget quality rises. The smoke run (a tiny
#   random model on a CPU) does not show it: only a GPU run on the real checkpoint can.
# * Memory: 16 bytes per trained parameter with AdamW and fp32 master weights; LoRA brings a 1 B model to a 16 GB
#   T4; 7 B full fine-tuning needs ZeRO-3 over several GPUs. Evaluation with generation dominates the time.
#
# ## Exercises
#
# **1.** Switch `CHECKPOINT` to `locuslab/tofu_ft_phi-1.5` (template `qa`). Does NPO+RT reach forget quality > 0.05
# within 10 epochs on this smaller model? This is an open question for your run, not a reproduction: the paper's
# TOFU figures are for Llama-2-7B-chat, and `npo_lab` records no published phi-1.5 number to compare with (the
# solution prints what the checkpoint registry holds).

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["solution"]
# Solution 1. Set CHECKPOINT = "locuslab/tofu_ft_phi-1.5" in §0 and rerun: the registry supplies the prompt format,
# the tokenizer, the LoRA targets and the retain reference. Whether NPO+RT passes 0.05 only that GPU run can tell,
# and the registry records no published phi-1.5 number to check it against (§5's published columns stay empty).
from npo_lab.tofu.checkpoints import published
from npo_lab.tofu.templates import TEMPLATES

phi = get_checkpoint("locuslab/tofu_ft_phi-1.5")
print(f"template {phi.template!r}: {TEMPLATES[phi.template].prompt('Who is X?')!r}")
print(f"tokenizer from {phi.tokenizer_fallback}; LoRA on {', '.join(phi.lora_target_modules)}")
print(f"retain reference: TOFU's published log (model {phi.reference_log!r}, 300 forget rows), downloaded from")
print(f"  {phi.retain_log_url}")
refs = [r for m in ("finetuned", "retain", "NPO", "GradDiff") if (r := published(phi.hub_id, m, FORGET_SPLIT))]
print(f"published numbers in the registry: {refs or 'none recorded'}")
T4_GIB = plan.get_card("T4").memory_gib
print(f"LoRA needed on a T4 ({T4_GIB:.3g} GiB): {session.needs_lora(phi.hub_id, T4_GIB)}")
assert phi.template == "qa" and TEMPLATES["qa"].prompt("Who is X?") == "Question: Who is X?\nAnswer: "
assert phi.retain_model is None and phi.reference_log == "phi" and not phi.references and not refs

# %% [markdown]
# **2.** Run NPO+RT with LoRA and without (on an A100) at the same learning rate, then at 1e-4 for LoRA. How do
# forget quality and model utility paths differ? What does that say about the paper's lr 1e-5 for adapters?

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["solution"]
# Solution 2. What the estimator says (estimates, not measurements) for NPO+RT on this notebook's checkpoint. The
# paths themselves need the three GPU runs: USE_LORA = False, then True with LORA_LEARNING_RATE = 1e-5, then 1e-4,
# each in its own NPO_LAB_RUNS directory (the runs directory does not name the learning rate, and a run with a
# changed hyper-parameter is refused). Look in §5 for: does the LoRA path at 1e-5 leave the fine-tuned model's
# star at all in 10 epochs? At 1e-4, does it reach the full run's forget quality, and at what model utility? If
# LoRA at 1e-5 barely moves, the paper's lr (chosen for full fine-tuning) does not carry over to adapters.
npo_rt = session.SESSION_PLANS[0].replace(methods=("NPO+RT",))
mem = {}
for card in ("A100 40GB", "T4 16GB"):
    for r in (0, LORA_R):
        cfgs = npo_rt.configs(N_FORGET_TOFU, **session.run_settings(CHECKPOINT, lora_r=r))
        est = plan.estimate(CHECKPOINT, card, cfgs, forget_split=FORGET_SPLIT)
        mem[card, r] = est.memory_gib
        print(
            f"{card}, {f'LoRA r={r}' if r else 'full'}: {est.trainable:.3g} trained parameters, "
            f"{est.memory_gib:.3g} GiB ({'fits' if est.fits else 'does NOT fit'}), "
            f"training {sum(est.train_minutes.values()):.3g} min"
        )
assert all(mem[card, LORA_R] < mem[card, 0] for card in ("A100 40GB", "T4 16GB"))

# %% [markdown]
# **3.** Run the plan `session.SESSION_PLANS[0].replace(methods=("GA+RT", "NPO+RT"))` and compare both with the
# published GradDiff and NPO rows of the table in §5. Are the differences within what n = 300 vs 400 explains?

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["solution"]
# Solution 3. The published rows are computed on all 400 forget rows, the paper's plan evaluates 300. The bundled
# Llama-2-7B logs (fine-tuned vs retain90, 300 forget rows, notebook 05) show what n does to one pair of models:
# random sets of n rows, both models on the same rows (drawn with replacement: the log has 300 rows).
import numpy as np
from scipy.stats import ks_2samp

from npo_lab.tofu import metrics

r_ft, r_rt = (metrics.truth_ratios(metrics.load_reference_log(w), "forget") for w in ("full", "retain90"))
rng = np.random.default_rng(0)
log_p = {}
for n in (300, 400):
    log_p[n] = np.log10([ks_2samp(r_ft[i], r_rt[i]).pvalue for i in (rng.choice(r_ft.size, n) for _ in range(300))])
    lo, med, hi = np.percentile(log_p[n], [5, 50, 95])
    print(f"n = {n}: log10 forget quality median {med:.3g}, 5–95 % range [{lo:.3g}, {hi:.3g}]")
k = np.median(log_p[400]) / np.median(log_p[300])
print(f"log10 p is ×{k:.3g} larger in magnitude at 400 rows (≈ 4/3: −log p grows like n·D² at a fixed gap D)")
for m in ("finetuned", "GradDiff", "NPO"):
    if (ref := published(CHECKPOINT, m, FORGET_SPLIT)) and ref.forget_quality:
        at_300 = 10 ** (np.log10(ref.forget_quality) / k)
        print(f"published {m}: {ref.forget_quality:.3g} at 400 rows ≈ {at_300:.3g} at 300 rows")
assert np.median(log_p[400]) < np.median(log_p[300]) and 1.2 < k < 1.5

# %% [markdown]
# **4.** Set `BETA = 0.01` and compare NPO with GA (Proposition 1 of notebook 02: β → 0 recovers GA).

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["solution"]
# Solution 4. NPO's gradient is GA's times W = 2σ(β · log-ratio) (`npo_weight`; GA: W = 1). How far do the
# log-ratios go? At least to the retain model's likelihood of the forget answers: in the bundled Llama-2-7B logs
# its sequence log-prob lies about 20 to 200 nats below the fine-tuned model's (5th to 95th percentile; GA goes
# further still). Up to the median log-ratio W stays above 0.5 at β = 0.01 (GA-like: NPO keeps pushing), while at
# the paper's β = 0.1 it has all but switched off there. Expect NPO at β = 0.01 to collapse like GA; seeing it
# needs the GPU run.
from npo_lab.losses import npo_loss, npo_weight
from npo_lab.tofu.logs import get_section, numeric_field

forget_logs = {w: get_section(load_reference_log(w), "forget") for w in ("full", "retain90")}
nll = {w: numeric_field(sec, "gt_loss", "forget") for w, sec in forget_logs.items()}  # summed NLL per answer
ratios = torch.tensor(np.percentile(nll["full"] - nll["retain90"], [95, 50]))  # log π_retain − log π_ft
W = {b: npo_weight(ratios, torch.zeros_like(ratios), beta=b) for b in (0.01, 0.1)}
for b, w in W.items():
    print(f"β = {b:g}: W at log-ratios {', '.join(f'{r:.3g}' for r in ratios)} = {', '.join(f'{x:.3g}' for x in w)}")
x = ratios.clone().requires_grad_()
npo_loss(x, torch.zeros_like(x), beta=0.01).sum().backward()  # autograd: ∂L_NPO/∂logp is W
assert torch.allclose(x.grad, W[0.01])
assert (W[0.01] > 0.5).all() and W[0.1][1] < 0.01 and (W[0.01] > W[0.1]).all()

# %% [markdown]
# **5.** Measure your card with `npo-lab bench-gpu` (cached vs recomputed reference, full vs LoRA, peak memory, MFU)
# and compare its MFU with the assumed `mfu` of your card in `npo_lab.gpu.plan.CARDS`. How far off was the time
# estimate of §1?

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["solution"]
# Solution 5. The measurement needs a GPU: `npo-lab bench-gpu --out bench_gpu.json` (in a terminal, or
# `!npo-lab bench-gpu` in a cell) prints an MFU per configuration. Without --grad-ckpt it counts the FLOPs done,
# 6N per trained token, as the estimator does for full fine-tuning; for LoRA it also counts 6N where a frozen base
# does 4N, so scale its LoRA MFU by 4/6 first. The estimated training time scales as 1 / MFU.
import dataclasses
import json

configs = PLAN.configs(N_FORGET_TOFU, **session.run_settings(CHECKPOINT, lora_r=LORA_R if LORA else 0))
est = plan.estimate(CHECKPOINT, CARD, configs, forget_split=FORGET_SPLIT, extra_evaluations=EXTRA_EVALUATIONS)
print(f"{CARD.name}: assumed MFU {CARD.mfu:.3g}, training {sum(est.train_minutes.values()):.3g} min (estimate)")
bench = json.loads(Path("bench_gpu.json").read_text()) if Path("bench_gpu.json").exists() else None
measured = None
if bench and plan.find_card(bench["device"]) == CARD:
    measured = {r["config"]: r["mfu"] for r in bench["results"]}["lora/cached" if LORA else "full/cached"]
    measured = measured and measured * (4 / 6 if LORA else 1)
mfu = measured or CARD.mfu / 2  # no measurement of this card here: what if it reached half the assumed MFU?
redo = plan.estimate(CHECKPOINT, dataclasses.replace(CARD, mfu=mfu), configs, forget_split=FORGET_SPLIT,
                     extra_evaluations=EXTRA_EVALUATIONS)
print(f"{'measured' if measured else 'hypothetical'} MFU {mfu:.3g}: training {sum(redo.train_minutes.values()):.3g} min")
for m, row in MEASURED.items() if CUDA else ():  # this session's runs: training = wall time − evaluation time
    measured_min = row["wall min"] - row["evaluation min"]
    print(f"{m}: measured training {measured_min:.3g} min, estimated {est.train_minutes[m]:.3g} min")
evals = est.evaluations * est.minutes_per_evaluation
assert abs(est.total_minutes - ESTIMATE.total_minutes) < 1e-9  # the estimate of §1
assert abs(est.total_minutes - (sum(est.train_minutes.values()) + evals + est.load_minutes)) < 1e-6
assert all(abs(redo.train_minutes[m] * mfu - t * CARD.mfu) < 1e-9 for m, t in est.train_minutes.items())
