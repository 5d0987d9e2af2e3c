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
#       jupytext_version: 1.19.6
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
# measured against the *retain model* (fine-tuned without those authors) every epoch, and you see GA collapse into
# gibberish while NPO+RT forgets and keeps talking — plus what it costs in GPU memory and time, with LoRA for small
# cards and the multi-GPU recipe for big models.
#
# **Runtime and hardware:** a Colab **GPU runtime** (Runtime → Change runtime type → GPU). Default model
# `open-unlearning/tofu_Llama-3.2-1B-Instruct_full` (1.24 B parameters): about 2 h on a free 16 GB **T4** with
# LoRA for the three methods × 10 epochs with an evaluation every epoch, about 35 min on an A100 40 GB with full
# fine-tuning — both **estimates**, derived in §1: nothing in this notebook has been timed on a GPU yet, and §6
# prints what your card measured. Completed runs are kept on disk, so a rerun after a disconnect skips them.
# With `NPO_LAB_SMOKE=1` the same code runs on a tiny random model on a CPU in about a minute (that is how the
# test suite executes this notebook). Mirrors Figs. 2, 5 and 6 of the NPO paper (arXiv 2404.05868).

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
# Pick a checkpoint; everything else follows from it. Each TOFU checkpoint was fine-tuned with a specific prompt
# format, and unlearning and evaluation must use the **same** one:
#
# | checkpoint | parameters | prompt template | retain-model reference for forget quality |
# |---|---|---|---|
# | `open-unlearning/tofu_Llama-3.2-1B-Instruct_full` (default) | 1.24 B | `chat` (the tokenizer's Llama-3 chat template) | evaluate `open-unlearning/tofu_Llama-3.2-1B-Instruct_retain90` here |
# | `locuslab/tofu_ft_phi-1.5` | 1.42 B | `qa` (`Question: …\nAnswer: …`) | the published TOFU log `phi_retain90` |
# | `locuslab/tofu_ft_llama2-7b` | 6.74 B | `llama2` (`[INST] … [/INST]`) | the published TOFU log `llama2-7b_retain90` |
#
# The paper's hyper-parameters (Sec. 5): AdamW, learning rate 1e-5, weight decay 0.01, effective batch 32,
# 10 epochs, linear warm-up over the first epoch, β = 0.1, retain weight α = 1. One epoch is one pass over the
# 400 forget rows, i.e. ⌈400/32⌉ = 13 optimiser steps.

# %%
import gc
import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import torch

from npo_lab import is_smoke, plotting
from npo_lab.runs import load_run, load_samples, load_summary
from npo_lab.tofu.data import guess_template, load_tofu, retain_split_for
from npo_lab.tofu.evaluate import evaluate
from npo_lab.tofu.metrics import load_eval_log, load_reference_log, save_eval_log, summarize
from npo_lab.unlearn import UnlearnConfig, unlearn

SMOKE = is_smoke()
DEFAULT_LORA_TARGETS = UnlearnConfig().lora_target_modules  # q/k/v/o and gate/up/down projections
CHECKPOINT = "open-unlearning/tofu_Llama-3.2-1B-Instruct_full"
CHECKPOINTS = {
    "open-unlearning/tofu_Llama-3.2-1B-Instruct_full": dict(
        template="chat", retain_model="open-unlearning/tofu_Llama-3.2-1B-Instruct_retain90", published_log=None,
        tokenizer_fallback=None, lora_targets=DEFAULT_LORA_TARGETS),
    "locuslab/tofu_ft_phi-1.5": dict(  # the repository holds no tokenizer: use the base model's
        template="qa", retain_model=None, published_log="phi", tokenizer_fallback="microsoft/phi-1_5",
        lora_targets=("q_proj", "k_proj", "v_proj", "dense", "fc1", "fc2")),
    "locuslab/tofu_ft_llama2-7b": dict(  # TOFU fine-tuned it from NousResearch/Llama-2-7b-chat-hf
        template="llama2", retain_model=None, published_log="llama2-7b",
        tokenizer_fallback="NousResearch/Llama-2-7b-chat-hf", lora_targets=DEFAULT_LORA_TARGETS),
}
SPEC = CHECKPOINTS[CHECKPOINT]
TRUST_REMOTE_CODE = False  # only if a checkpoint's architecture is unknown to your transformers version
FORGET_SPLIT = "forget10"
METHODS = ["GA", "NPO", "NPO+RT"]
USE_LORA = None  # None: decide from the memory estimate below (True on a 16 GB T4 or L4); True / False to force
LORA_R = 16

# the paper's hyper-parameters
EPOCHS = 10
LEARNING_RATE = 1e-5  # full fine-tuning; see LORA_LEARNING_RATE
LORA_LEARNING_RATE = 1e-4  # NOT the paper's: a rank-16 adapter barely moves at 1e-5 (an untested starting point)
EFFECTIVE_BATCH = 32
BATCH_SIZE = 4  # per micro-batch (forget rows; each is paired with a retain row)
BETA, ALPHA = 0.1, 1.0
WARMUP_EPOCHS, WEIGHT_DECAY = 1.0, 0.01
EVAL_MAX_ROWS = 300  # the paper evaluates at most 300 rows per split
EVAL_BATCH_SIZE = 16
MAX_NEW_TOKENS = None  # generation length for ROUGE: None = longest answer + 16 tokens
MAX_LENGTH = 256
N_FORGET = N_RETAIN = None  # None: the whole split
N_SAMPLES = 5  # greedy answers kept per evaluation (for the answer table)

if SMOKE:  # sizes only: the code below is the same
    EPOCHS, BATCH_SIZE, EFFECTIVE_BATCH, N_SAMPLES = 2, 4, 4, 3
    N_FORGET, N_RETAIN, EVAL_MAX_ROWS, EVAL_BATCH_SIZE, MAX_NEW_TOKENS, MAX_LENGTH = 8, 16, 4, 8, 4, 128
GRAD_ACCUM = EFFECTIVE_BATCH // BATCH_SIZE

# data: $NPO_LAB_TOFU_DIR (a local copy of the TOFU files) if set, else the hub; in smoke mode without it the
# bundled synthetic authors
SOURCE = None if (SMOKE or os.environ.get("NPO_LAB_TOFU_DIR")) else "hub"
# where runs and eval logs go; on Colab point NPO_LAB_RUNS at a Google Drive folder to keep them across sessions
RUNS_ROOT = Path(os.environ.get("NPO_LAB_RUNS", "runs")) / ("08_tofu_gpu_smoke" if SMOKE else "08_tofu_gpu")

CUDA = torch.cuda.is_available()
if not CUDA and not SMOKE:
    raise RuntimeError("No GPU: choose Runtime → Change runtime type → GPU (Colab), or set NPO_LAB_SMOKE=1 to run "
                       "the tiny CPU version of this notebook.")
if CUDA:
    props = torch.cuda.get_device_properties(0)
    DEVICE_NAME, GPU_GIB = props.name, props.total_memory / 2**30
    BF16 = torch.cuda.get_device_capability(0)[0] >= 8  # A100, L4, H100: native bf16; T4/V100: fp16
    torch.backends.cuda.matmul.allow_tf32 = True
else:
    DEVICE_NAME, GPU_GIB, BF16 = "cpu", None, False
print(f"device: {DEVICE_NAME}" + (f" ({GPU_GIB:.1f} GiB)" if GPU_GIB else "") + f"; smoke mode: {SMOKE}")
print(f"{CHECKPOINT}: template {SPEC['template']!r}; methods {METHODS}; {EPOCHS} epochs; effective batch "
      f"{BATCH_SIZE} × {GRAD_ACCUM} = {BATCH_SIZE * GRAD_ACCUM}")

# %% [markdown]
# ## 1. Will it fit, and how long will it take? (estimates)
#
# Memory of training with AdamW, per **trained** parameter: the weights, their gradients and Adam's two moment
# estimates. With mixed precision the master weights stay in fp32 (bf16 only inside the matmuls), so
# `4 (weights) + 4 (gradients) + 4 + 4 (Adam m, v) = 16 bytes`. Pure bf16 weights would halve that, but at
# lr 1e-5 an Adam step (≈ 1e-5 per weight) is below bf16's resolution for weights of size ≈ 0.02 (a relative step of
# 5e-4 against bf16's 2⁻⁸ ≈ 4e-3), so most updates would round away: this notebook keeps fp32 master weights.
# With **LoRA** the base model is frozen in 16-bit (2 bytes per parameter) and only the adapters (rank r on the
# attention and MLP projections, `r·(d_in + d_out)` parameters per adapted matrix) pay the 16 bytes. The reference
# log-probs of the forget answers are cached once before training (`npo_lab.unlearn`), so **no second copy** of the
# model is needed for NPO.
#
# Activations (with gradient checkpointing, micro-batch `B` = 4 sequences of `T` ≈ 160 tokens per group, forget and
# retain): the checkpointed layer inputs `L·B·T·h·2 bytes`, one layer recomputed at a time (≈ `34·B·T·h` bytes,
# Korthikanti et al. 2022), and the logits with their fp32 log-softmax and gradient, ≈ `10·B·T·V` bytes per
# group — for Llama-3's 128 k vocabulary the logits dominate. Add ≈ 0.5 GiB of CUDA context.
#
# Time per optimiser step: `6·N·tokens` FLOPs for full fine-tuning (forward 2N + backward 4N per token), `4·N` for
# LoRA (no weight gradients for the frozen base), `+2·N` for the recomputed forward under gradient checkpointing;
# tokens per step = 32 forget + 32 retain sequences × T (GA reads only the forget half). The achieved fraction of
# the card's peak (MFU) is an **assumption** (35 % on A100/H100, 25 % on T4/L4). Evaluation is dominated by greedy
# decoding: ≈ 817 eval questions in batches of 64, ≈ 100 new tokens each, at an assumed ≈ 25 ms per decoding step
# (kernel-launch bound for a 1 B model), plus the loss passes over ≈ 5 300 answer sequences. **None of these figures
# was measured on a GPU**; `bench/bench_gpu.py` measures step time, peak memory and MFU on a card, and §6 below prints
# what your run measured.

# %%
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, PhiConfig  # noqa: E402

# public configuration values of the three checkpoints (so the estimate needs no download)
ARCHS = {
    "open-unlearning/tofu_Llama-3.2-1B-Instruct_full": LlamaConfig(
        vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
        num_key_value_heads=8, tie_word_embeddings=True),
    "locuslab/tofu_ft_phi-1.5": PhiConfig(
        vocab_size=51200, hidden_size=2048, intermediate_size=8192, num_hidden_layers=24, num_attention_heads=32,
        partial_rotary_factor=0.5, tie_word_embeddings=False),
    "locuslab/tofu_ft_llama2-7b": LlamaConfig(
        vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
        num_key_value_heads=32, tie_word_embeddings=False),
}
CARDS = {  # memory (GiB), peak dense 16-bit FLOP/s (data sheets), assumed MFU
    "T4 16GB": (15.0, 65e12, 0.25), "L4 24GB": (22.0, 121e12, 0.25), "A100 40GB": (39.4, 312e12, 0.35),
    "A100 80GB": (79.2, 312e12, 0.35), "H100 80GB": (79.2, 989e12, 0.35),
}
GIB = 2**30


def count_parameters(config, lora_targets, r=LORA_R):
    """(N, N_lora): parameters of the model built on the meta device (no memory), and of rank-r LoRA adapters."""
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    n = sum(p.numel() for p in model.parameters())
    n_lora = sum(r * (m.in_features + m.out_features) for name, m in model.named_modules()
                 if isinstance(m, torch.nn.Linear) and name.rsplit(".", 1)[-1] in lora_targets)
    return n, n_lora


def estimate(config, lora_targets, lora, *, B=4, T=160, steps=130, ckpt=True):
    """Estimated peak training memory (GiB), FLOPs per optimiser step and per evaluation (see the text above)."""
    n, n_lora = count_parameters(config, lora_targets)
    h, L, V = config.hidden_size, config.num_hidden_layers, config.vocab_size
    states = 2 * n + 16 * n_lora if lora else 16 * n
    activations = L * B * T * h * 2 + 34 * B * T * h + 2 * 10 * B * T * V
    tokens = 2 * 32 * T  # 32 forget + 32 retain sequences per optimiser step (the paper's effective batch)
    flops_step = ((4 if lora else 6) + (2 if ckpt else 0)) * n * tokens
    return dict(N=n, trainable=n_lora if lora else n, memory_gib=(states + activations) / GIB + 0.5,
                flops_step=flops_step, steps=steps, loss_eval_flops=2 * n * 5300 * T)


rows = []
for name, config in ARCHS.items():
    for lora in (False, True):
        e = estimate(config, CHECKPOINTS[name]["lora_targets"], lora)
        for card, (mem, peak, mfu) in CARDS.items():
            train_min = 3 * e["steps"] * e["flops_step"] / (peak * mfu) / 60 * 5 / 6  # GA: half the tokens
            eval_min = (13 * 100 * 0.025 + e["loss_eval_flops"] / (peak * mfu)) / 60
            rows.append({"checkpoint": name.split("/")[-1], "mode": "LoRA r=16" if lora else "full (fp32 master)",
                         "card": card, "trainable (M)": e["trainable"] / 1e6, "memory GiB (est.)": e["memory_gib"],
                         "fits": e["memory_gib"] < mem, "train min, 3 methods (est.)": train_min,
                         "min per evaluation (est.)": eval_min,
                         "total h, 3 × 11 evals (est.)": (train_min + 33 * eval_min + 2 * eval_min) / 60})
ESTIMATES = pd.DataFrame(rows)
pd.set_option("display.width", 200, "display.max_columns", 20)
print(ESTIMATES[ESTIMATES["card"].isin(["T4 16GB", "A100 40GB", "H100 80GB"])].round(2).to_string(index=False))

# %% [markdown]
# Read it as: the 1 B Llama needs ≈ 21 GiB to fine-tune fully (16 bytes × 1.24 B = 18.4 GiB of weights, gradients
# and Adam states, plus ≈ 2 GiB of activations, logits and CUDA context), so a T4 or an L4 needs LoRA (≈ 5 GiB); an
# A100 40 GB runs full fine-tuning. The 7 B Llama-2 needs ≈ 100 GiB for full fine-tuning: that is a multi-GPU job
# (DeepSpeed ZeRO-3 shards those 16 bytes per parameter over the GPUs; the recipe is in `docs/multi_gpu.md`), or
# LoRA on a 24–40 GB card (≈ 14 GiB: too close to a T4's 15 GiB to count on). **Evaluation, not training, dominates
# the time**: 33 evaluations of ≈ 800 questions with generation. On a T4, `EVAL_MAX_ROWS = 100` cuts it by ≈ 3
# (forget quality is then measured at n = 100: compare only runs with the same n, see notebook 07).

# %%
def choose_lora():
    if USE_LORA is not None:
        return bool(USE_LORA)
    if not CUDA:  # the smoke test exercises the LoRA path, the one of a free Colab T4
        return True
    need = estimate(ARCHS[CHECKPOINT], SPEC["lora_targets"], lora=False)["memory_gib"]
    return need > 0.9 * GPU_GIB


LORA = choose_lora()
LR = LORA_LEARNING_RATE if LORA else LEARNING_RATE
PRECISION = ("bf16" if BF16 else "fp16") if CUDA else "fp32"
# full fine-tuning: fp32 master weights + 16-bit autocast; LoRA: the frozen base in 16 bit, adapters in fp32
MODEL_DTYPE = torch.float32 if (not CUDA or not LORA) else (torch.bfloat16 if BF16 else torch.float16)
# one directory per checkpoint / mode / eval size, so that saved eval logs are never reused for another setting
RUNS_DIR = RUNS_ROOT / f"{CHECKPOINT.split('/')[-1]}_{'lora' if LORA else 'full'}_n{EVAL_MAX_ROWS}"
RUNS_DIR.mkdir(parents=True, exist_ok=True)
print(f"LoRA: {LORA} (r={LORA_R})   learning rate {LR}   precision {PRECISION}   weights loaded as {MODEL_DTYPE}")
print(f"runs and eval logs: {RUNS_DIR}")

# %% [markdown]
# ## 2. Data, tokenizer, model
#
# `load_tofu` reads the TOFU splits (hub `locuslab/TOFU`, or a local copy). The forget set is `forget10` (the last
# 20 authors, 400 questions); the retain set is its complement `retain90`. In smoke mode the "checkpoint" is a tiny
# randomly initialised Llama-style model with a byte-level BPE tokenizer trained on the few rows used
# (`npo_lab.minitofu`); everything after this cell is the same code.

# %%
forget_rows = load_tofu(FORGET_SPLIT, SOURCE)
retain_rows = load_tofu(retain_split_for(FORGET_SPLIT), SOURCE)
if N_FORGET:
    forget_rows = forget_rows.select(range(min(N_FORGET, len(forget_rows))))
if N_RETAIN:
    retain_rows = retain_rows.select(range(min(N_RETAIN, len(retain_rows))))
print(f"forget: {len(forget_rows)} rows, retain: {len(retain_rows)} rows")
print("example:", forget_rows[0]["question"], "→", forget_rows[0]["answer"])

if SMOKE:
    from npo_lab.minitofu import tiny_llama, train_tokenizer

    texts = [r["question"] + " " + r["answer"] for r in list(forget_rows) + list(retain_rows)]
    SMOKE_TOKENIZER = train_tokenizer(texts, vocab_size=512)
    SMOKE_SEEDS = {CHECKPOINT: 0, SPEC["retain_model"]: 1}  # fine-tuned and "retain" stand-ins


def load_tokenizer(name):
    if SMOKE:
        return SMOKE_TOKENIZER
    try:
        tok = AutoTokenizer.from_pretrained(name, trust_remote_code=TRUST_REMOTE_CODE)
    except (OSError, ValueError):
        if not SPEC["tokenizer_fallback"]:
            raise
        tok = AutoTokenizer.from_pretrained(SPEC["tokenizer_fallback"], trust_remote_code=TRUST_REMOTE_CODE)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_model(name):
    """The checkpoint `name` on the GPU (in smoke mode: a tiny random Llama-style model on the CPU)."""
    if SMOKE:
        return tiny_llama(SMOKE_TOKENIZER, hidden_size=64, num_layers=2, num_heads=4, seed=SMOKE_SEEDS[name])
    import transformers

    new_api = tuple(int(x) for x in transformers.__version__.split(".")[:2]) >= (4, 56)  # `dtype` vs `torch_dtype`
    # device_map loads the weights straight onto the GPU (a 7 B model in 16 bit would not fit Colab's CPU memory)
    return AutoModelForCausalLM.from_pretrained(name, **{"dtype" if new_api else "torch_dtype": MODEL_DTYPE},
                                                device_map={"": 0}, trust_remote_code=TRUST_REMOTE_CODE)


def free_memory():
    gc.collect()
    if CUDA:
        torch.cuda.empty_cache()


tokenizer = load_tokenizer(CHECKPOINT)
TEMPLATE = SPEC["template"] if not SMOKE else guess_template("tiny", tokenizer)
if not SMOKE and guess_template(CHECKPOINT, tokenizer) != TEMPLATE:
    print(f"note: guess_template says {guess_template(CHECKPOINT, tokenizer)!r}; using {TEMPLATE!r}")
print(f"template {TEMPLATE!r}; vocabulary {len(tokenizer)}")

# %% [markdown]
# ## 3. The two reference points: the fine-tuned model and the retain model
#
# *Forget quality* is the KS-test p-value between the forget-set truth ratios of a model and those of the **retain
# model** (notebook 07). For the Llama-3.2 checkpoint we evaluate the published `_retain90` model with the same
# code; for phi-1.5 and Llama-2-7B we read TOFU's published evaluation logs (computed by TOFU's own code, so small
# differences in tokenisation can shift the comparison — evaluating a retain model yourself is the cleaner
# reference). We also evaluate the fine-tuned model once: it is every run's epoch 0. Both logs are saved, so a
# rerun reads them instead of evaluating again.

# %%
EVAL_KW = dict(source=SOURCE, forget_split=FORGET_SPLIT, template=TEMPLATE, max_rows=EVAL_MAX_ROWS,
               batch_size=EVAL_BATCH_SIZE, max_new_tokens=MAX_NEW_TOKENS, max_length=MAX_LENGTH)


def evaluated_log(name, path):
    """The TOFU eval log of checkpoint `name`, from `path` if it is there, else evaluated now and saved there."""
    if path.exists():
        return load_eval_log(path)
    model = load_model(name)
    t0 = time.perf_counter()
    log = evaluate(model, load_tokenizer(name), **EVAL_KW)
    print(f"evaluated {name} in {time.perf_counter() - t0:.0f} s")
    save_eval_log(log, path)
    del model
    free_memory()
    return log


if SPEC["retain_model"]:
    retain_log = evaluated_log(SPEC["retain_model"], RUNS_DIR / "retain_model_eval_log.json")
else:
    retain_log = load_reference_log("retain90", model=SPEC["published_log"])
finetuned_log = evaluated_log(CHECKPOINT, RUNS_DIR / "finetuned_eval_log.json")

retain_summary = summarize(retain_log, retain_log)
finetuned_summary = summarize(finetuned_log, retain_log)
keys = ["model_utility", "forget_quality", "forget_probability", "forget_truth_ratio", "forget_rouge", "n_forget"]
print(pd.DataFrame({"fine-tuned": finetuned_summary, "retain model": retain_summary}).loc[keys])

# %% [markdown]
# The fine-tuned model knows the forget authors (high forget probability and ROUGE), and its forget quality is tiny:
# its truth ratios on the forget set are nothing like the retain model's. Unlearning should move the forget quality
# up towards 1 **without** giving up model utility.
#
# ## 4. Unlearning: GA, NPO, NPO+RT
#
# One call per method: `unlearn(model, tokenizer, forget_rows, retain_rows, config, retain_log=...)` builds the
# `Unlearner` (a `transformers.Trainer`), caches the reference log-probs of the forget answers once, trains, and
# evaluates at the end of every epoch (`eval_every=0`) into the run directory (`config.json`, `metrics.jsonl`,
# `samples.jsonl`, `summary.json`). Each method starts from a freshly loaded checkpoint. A completed run is not
# repeated: delete its directory to redo it.

# %%
def run_dir(method):
    return RUNS_DIR / method.replace("+", "_")


MEASURED = {}
for method in METHODS:
    out = run_dir(method)
    if (out / "summary.json").exists() and load_summary(out).get("status") == "completed":
        print(f"{method}: already completed in {out}")
        continue
    config = UnlearnConfig(
        method=method, beta=BETA, alpha=ALPHA, learning_rate=LR, epochs=EPOCHS, batch_size=BATCH_SIZE,
        gradient_accumulation_steps=GRAD_ACCUM, warmup_epochs=WARMUP_EPOCHS, weight_decay=WEIGHT_DECAY,
        eval_every=0, eval_at_start=False, eval_max_rows=EVAL_MAX_ROWS, eval_batch_size=EVAL_BATCH_SIZE,
        eval_max_new_tokens=MAX_NEW_TOKENS, num_samples=N_SAMPLES, output_dir=str(out), precision=PRECISION,
        gradient_checkpointing=True, lora_r=LORA_R if LORA else 0, lora_target_modules=SPEC["lora_targets"],
        template=TEMPLATE, max_length=MAX_LENGTH, save_every=-1, seed=0)
    model = load_model(CHECKPOINT)
    if CUDA:
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    result = unlearn(model, tokenizer, forget_rows, retain_rows, config, retain_log=retain_log,
                     eval_source=SOURCE, forget_split=FORGET_SPLIT)
    MEASURED[method] = {"device": DEVICE_NAME, "LoRA": LORA, "precision": PRECISION,
                        "wall s": time.perf_counter() - t0,
                        "evaluation s": result.summary["seconds"]["evaluation"],
                        "peak GPU GiB": torch.cuda.max_memory_allocated() / GIB if CUDA else float("nan")}
    final = result.summary["final"] or {}
    print(f"{method}: {result.summary['global_step']} steps, forget quality {final.get('forget_quality')}, "
          f"model utility {final.get('model_utility')}")
    del model, result
    free_memory()

# %% [markdown]
# ## 5. Forget quality against model utility
#
# Every run is read back from its record with `load_run`; the fine-tuned model's evaluation is prepended as epoch 0.
# The paper's Fig. 5: a path per method from the fine-tuned model (star) over the epochs. GA jumps to high forget
# quality for a moment and then loses model utility altogether; NPO is slower and keeps more; NPO+RT keeps model
# utility near the fine-tuned level while forget quality rises. The dashed line is forget quality 0.05.

# %%
plotting.set_style()
epoch0 = {"step": 0, "epoch": 0.0, **finetuned_summary}
frames = {m: pd.concat([pd.DataFrame([epoch0]), load_run(run_dir(m))], ignore_index=True) for m in METHODS}
ax = plotting.plot_forget_quality_vs_utility(frames, finetuned=finetuned_summary, retain=retain_summary)
ax.set_title(f"{CHECKPOINT.split('/')[-1]}, {FORGET_SPLIT}" + (" (smoke)" if SMOKE else ""))
plt.show()

# %% [markdown]
# The per-epoch curves (paper Fig. 6): forget quality (log scale below 0.1), model utility with the fine-tuned and
# retain models' levels, and the probability of the forget answers — GA drives it to zero, far below the retain
# model's level, which is *over*-forgetting: a model that never saw these authors still assigns their answers some
# probability.

# %%
axes = plotting.plot_run_panels(frames, finetuned=finetuned_summary, retain=retain_summary)
plt.tight_layout()
plt.show()

last = pd.DataFrame({"fine-tuned": epoch0, **{m: f.iloc[-1] for m, f in frames.items()}}).T
print(last[["epoch"] + keys].to_string(float_format=lambda v: f"{v:.3g}"))

# %% [markdown]
# ## 6. What the models now answer
#
# Greedy answers to forget questions (and to retain questions) at the last epoch, from each run's `samples.jsonl`,
# next to the fine-tuned model's. Expect GA to produce gibberish or repeated tokens everywhere — it has collapsed —
# while NPO+RT answers fluently but **wrongly** about the forgotten authors and still correctly about the retained
# ones. (In smoke mode the tiny random model answers gibberish throughout: only the code path is checked.)

# %%
from IPython.display import display  # noqa: E402

from npo_lab.tofu.evaluate import eval_splits  # noqa: E402


def answer_table(split):
    """Question, true answer, and the greedy answers of the fine-tuned model and of each method's last epoch (the
    samples are the first N_SAMPLES rows of the eval split, in order)."""
    key = {"forget": "eval_log_forget.json", "retain": "eval_log.json"}[split]
    n = min(N_SAMPLES, EVAL_MAX_ROWS)
    rows = load_tofu(eval_splits(FORGET_SPLIT)[key], SOURCE).select(range(n))
    table = pd.DataFrame({"question": list(rows["question"]), "answer": list(rows["answer"])})
    table["fine-tuned"] = [gen for _, gen, _ in finetuned_log[key]["generated_text"][:n]]
    for m in METHODS:
        s = load_samples(run_dir(m))
        s = s[(s["split"] == split) & (s["step"] == s["step"].max())]
        table[m] = s["generation"].to_list()[:n]
    return table


with pd.option_context("display.max_colwidth", 80):
    for split in ("forget", "retain"):
        print(f"{split} questions, last epoch")
        display(answer_table(split))

# %% [markdown]
# What your card measured in this session (runs completed in an earlier session are not re-timed). Compare with the
# estimates of §1, and please report the numbers (card, LoRA or not, wall time, peak memory) — the estimates above
# are only as good as their assumptions.

# %%
print(pd.DataFrame(MEASURED).T.to_string(float_format=lambda v: f"{v:.1f}") if MEASURED else "nothing run now")

# %% [markdown]
# ## Beyond one GPU
#
# The same engine runs on several GPUs through `accelerate`: the command line `npo-lab unlearn` takes the options
# of `UnlearnConfig`. For example NPO+RT on Llama-2-7B with DeepSpeed ZeRO-3 on 4 GPUs (effective batch
# 2 × 4 × 4 = 32):
#
# ```bash
# accelerate launch --config_file configs/accelerate/deepspeed_zero3.yaml --num_processes 4 \
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
# * Forget quality only means something against a retain model evaluated the same way (same template, same n).
# * GA reaches the forget set fastest and destroys the model; NPO slows the collapse down; NPO+RT keeps model
#   utility while the forget quality rises — the paper's Figs. 5 and 6.
# * Memory: 16 bytes per trained parameter with AdamW and fp32 master weights; LoRA brings a 1 B model to a 16 GB
#   T4; 7 B full fine-tuning needs ZeRO-3 over several GPUs. Evaluation with generation dominates the time.
#
# ## Exercises
#
# 1. Switch `CHECKPOINT` to `locuslab/tofu_ft_phi-1.5` (template `qa`). Does NPO+RT reach forget quality > 0.05
#    within 10 epochs, as in the paper's phi-1.5 results?
# 2. Run NPO+RT with LoRA and without (on an A100) at the same learning rate, then at 1e-4 for LoRA. How do forget
#    quality and model utility paths differ? What does that say about the paper's lr 1e-5 for adapters?
# 3. Add `"NPO+KL"` and `"IDK+RT"` to `METHODS` (IDK needs the "I don't know" answers: `unlearn` loads them from
#    the data source). NPO+KL keeps a reference model in memory: check the measured peak memory.
# 4. Set `BETA = 0.01` and compare NPO with GA (Proposition 1 of notebook 02: β → 0 recovers GA).
# 5. Measure your card with `python bench/bench_gpu.py` (cached vs recomputed reference, full vs LoRA, peak memory,
#    MFU) and replace the assumed MFU of §1 by yours. How far off was the time estimate?
