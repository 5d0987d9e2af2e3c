"""The GPU benchmark behind ``npo-lab bench-gpu``: the unlearning trainer's own optimiser steps (NPO+RT, or any
``--method``) on a randomly initialised Llama-3.2-1B-shaped model.

One command, run once on a GPU machine (no network: the model is built from its public configuration):

    npo-lab bench-gpu                                  # Llama-3.2-1B shape, bf16, batch 8 × 256 tokens
    npo-lab bench-gpu --tiny --steps 3                 # the same code path on the CPU, in seconds

It measures, side by side on the same batches:

* the step time of :class:`~npo_lab.unlearn.Unlearner` (``training_step`` + the optimiser step: the forward
  passes, loss and backward of ``npo-lab unlearn``) and tokens/s, with the cached reference log-probs vs
  recomputing them every step (as the published code does): the ratio cached/recomputed (NPO+RT: ≈ 6/7 = 0.86);
* full fine-tuning vs LoRA (peft, r=16 on the attention and MLP projections);
* peak GPU memory of each configuration;
* model FLOPs utilisation (MFU) = achieved model FLOPs / the card's peak dense 16-bit FLOP/s
  (:func:`npo_lab.gpu.plan.peak_flops`), with 6·N·tokens per trained forward+backward (forget and retain) plus
  2·N·tokens per no-grad forward (the reference model when recomputing). LoRA runs use the same 6·N convention
  (their real work is ≈ 4·N per token), so their MFU reads as "full-fine-tuning-equivalent"; recomputation under
  ``--grad-ckpt`` is not counted (the usual MFU definition).

The weights are cast to the compute dtype (pure bf16, AdamW states in bf16 too: 8 bytes per trained parameter), so
the peak memory of full fine-tuning is *below* that of mixed precision with fp32 master weights (16 bytes per
parameter, what notebook 08 and ``npo-lab unlearn`` use; :mod:`npo_lab.gpu.plan`). Cards without native bf16
(T4, V100) fall back to fp16 with ``--dtype auto``. The results are printed and written as strict JSON
(``--out``; unknown values such as the CPU's peak memory are null).
"""

from __future__ import annotations

import gc
import time
from pathlib import Path

import torch

from ..errors import UsageError
from ..files import write_json
from ..losses import METHODS, get_method
from ..runtime import resolve_device
from ..unlearn.config import DEFAULT_LORA_TARGETS
from .load import pick_dtype
from .plan import architecture, peak_flops

__all__ = ["CONFIGS", "add_arguments", "benchmark_config", "run_benchmark"]

#: (name, LoRA, cached reference) of the four measured configurations
CONFIGS = (
    ("full/cached", False, True),
    ("full/recompute", False, False),
    ("lora/cached", True, True),
    ("lora/recompute", True, False),
)
LLAMA_1B = "open-unlearning/tofu_Llama-3.2-1B-Instruct_full"


def benchmark_config(tiny: bool):
    """The model's configuration: Llama-3.2-1B's (:func:`npo_lab.gpu.plan.architecture`), or a tiny one."""
    from transformers import LlamaConfig

    if not tiny:
        return architecture(LLAMA_1B)
    return LlamaConfig(
        vocab_size=1024,
        hidden_size=128,
        intermediate_size=512,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
    )


def make_batches(n, batch, seq, vocab, device, seed=0, groups=("forget", "retain")):
    """``n`` batches in the trainer's input format: ``{group: {input_ids, attention_mask, labels}}`` of random
    tokens, the first half of each sequence a masked prompt."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        b = {}
        for side in groups:
            ids = torch.randint(3, vocab, (batch, seq), generator=g)
            labels = ids.clone()
            labels[:, : seq // 2] = -100  # prompt half masked
            b[side] = {"input_ids": ids.to(device), "attention_mask": torch.ones_like(ids).to(device)}
            b[side]["labels"] = labels.to(device)
        out.append(b)
    return out


def _trainer(model, method, cached: bool, dtype, device, tmp: str):
    """The :class:`~npo_lab.unlearn.Unlearner` that ``npo-lab unlearn`` trains with, around ``model``: its own
    optimiser (AdamW, lr 1e-5, weight decay 0.01), forward passes, loss and reference handling. The weights are
    already in the compute dtype (module docstring), so no autocast is added."""
    from transformers import TrainingArguments

    from ..unlearn.data import ForgetRetainDataset
    from ..unlearn.trainer import Unlearner

    args = TrainingArguments(
        output_dir=tmp,
        learning_rate=1e-5,
        weight_decay=0.01,
        use_cpu=device.type == "cpu",
        report_to=[],
        save_strategy="no",
        disable_tqdm=True,
    )
    rows = [{"question": "q", "answer": "a"}]
    dataset = ForgetRetainDataset(rows, rows, ["I don't know."], with_retain=True, with_idk=True)
    trainer = Unlearner(
        model, args, method=method, train_dataset=dataset, data_collator=lambda x: x, cache_reference=cached
    )
    trainer.create_optimizer()
    trainer.current_gradient_accumulation_steps = 1  # set by the Trainer's loop before each update
    return trainer


@torch.no_grad()
def _cache_reference(trainer, batches) -> None:
    """The cached reference log-probs, computed once before training (the trainer then reads ``ref_logp``)."""
    from ..losses import sequence_logprob

    needs = trainer.method.needs_by_group
    with trainer.compute_loss_context_manager():
        for b in batches:
            for name, group in b.items():
                if "ref_logp" in needs.get(name, ()):
                    group["ref_logp"] = sequence_logprob(trainer._logits(trainer.model, group), group["labels"])


def trainer_step(trainer, batch) -> torch.Tensor:
    """One optimiser step of the trainer itself: ``training_step`` (its forward passes, loss and backward), then
    the optimiser step, as the Trainer's loop makes it."""
    loss = trainer.training_step(trainer.model, batch)
    trainer.optimizer.step()
    trainer.optimizer.zero_grad(set_to_none=True)
    return loss


def run_config(name, cfg, args, device, dtype, batches, lora: bool, cached: bool):
    import tempfile

    from transformers import LlamaForCausalLM

    from ..unlearn.config import UnlearnConfig
    from .plan import _groups

    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg).to(device=device, dtype=dtype)
    if args.grad_ckpt:  # non-reentrant: also correct with LoRA, where the embeddings are frozen
        if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5 (the old name is deprecated)
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    n_params = sum(p.numel() for p in model.parameters())  # the base model's N for the FLOP count
    if lora:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(
            model,
            LoraConfig(
                r=16, lora_alpha=32, lora_dropout=0.0, task_type="CAUSAL_LM", target_modules=list(DEFAULT_LORA_TARGETS)
            ),
        )
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    batches = [{k: dict(v) for k, v in b.items()} for b in batches]  # this configuration's own ref_logp
    with tempfile.TemporaryDirectory(prefix="npo_lab_bench_") as tmp:
        trainer = _trainer(model, args.method, cached, dtype, device, tmp)
        if cached:
            _cache_reference(trainer, batches)
        trainer.model.train()
        sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        for i in range(args.warmup):
            trainer_step(trainer, batches[i % len(batches)])
        sync()
        t0 = time.perf_counter()
        for i in range(args.steps):
            trainer_step(trainer, batches[(i + args.warmup) % len(batches)])
        sync()
        dt = (time.perf_counter() - t0) / args.steps
    trained, ref_step, _ = _groups(UnlearnConfig(method=args.method, cache_reference=cached))
    seq_tokens = args.batch * args.seq
    tokens = trained * seq_tokens  # sequences trained per step (e.g. forget + retain)
    flops = 6 * n_params * tokens + 2 * n_params * ref_step * seq_tokens
    peak_mem = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
    peak = peak_flops(args.device_name)
    res = dict(
        config=name,
        step_s=dt,
        tokens_per_s=tokens / dt,
        peak_mem_gib=peak_mem,
        params=n_params,
        trainable=n_train,
        model_tflops_per_s=flops / dt / 1e12,
        mfu=flops / dt / peak,
    )
    del model, trainer
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return res


def add_arguments(parser) -> None:
    """The options of ``npo-lab bench-gpu``."""
    parser.add_argument("--tiny", action="store_true", help="a tiny model (a CPU check of the code path)")
    parser.add_argument("--batch", type=int, default=8, help="sequences per group (forget, retain) and step")
    parser.add_argument("--seq", type=int, default=256, help="tokens per sequence")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per configuration")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--grad-ckpt", action="store_true", help="gradient checkpointing")
    parser.add_argument("--method", default="NPO+RT", choices=list(METHODS), help="the objective (default NPO+RT)")
    parser.add_argument(
        "--dtype",
        default="auto",
        choices=["auto", "bf16", "fp16", "fp32"],
        help="auto: bf16 on Ampere or newer, fp16 on older cards, fp32 on the CPU",
    )
    parser.add_argument("--out", default="bench_gpu.json", help="the JSON file of the results")


def _check(args) -> None:
    for name, low in (("batch", 1), ("seq", 2), ("steps", 1), ("warmup", 0)):
        if getattr(args, name) < low:
            raise UsageError(f"--{name} must be >= {low}, got {getattr(args, name)}")
    out = Path(args.out).expanduser()
    if out.is_dir():
        raise UsageError(f"--out {args.out!r} is a directory: name the JSON file to write")
    if not out.resolve().parent.is_dir():
        raise UsageError(f"--out {args.out!r}: directory {str(out.resolve().parent)!r} does not exist")


def run_benchmark(args) -> dict:
    """Measure the four :data:`CONFIGS`, print them, write ``args.out`` and return the record."""
    _check(args)
    device = resolve_device()
    dtype = pick_dtype(device, args.dtype)
    args.device_name = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
    tiny = bool(args.tiny or device.type == "cpu")  # the 1 B model on a CPU would take hours
    cfg = benchmark_config(tiny)
    print(f"device: {args.device_name}  dtype: {dtype}  {args.method}: batch {args.batch} × seq {args.seq} per group")
    groups = tuple(get_method(args.method).needs_by_group)
    batches = make_batches(4, args.batch, args.seq, cfg.vocab_size, device, groups=groups)
    results = []
    for name, lora, cached in CONFIGS:
        r = run_config(name, cfg, args, device, dtype, batches, lora, cached)
        results.append(r)
        print(
            f"{name:16s} step {r['step_s'] * 1e3:8.1f} ms  {r['tokens_per_s']:10.0f} tok/s  "
            f"peak {r['peak_mem_gib']:6.2f} GiB  MFU {r['mfu']:.3f}  trainable {r['trainable']:,}"
        )
    by = {r["config"]: r for r in results}
    ratios = {
        "full: cached/recompute step time": by["full/cached"]["step_s"] / by["full/recompute"]["step_s"],
        "lora: cached/recompute step time": by["lora/cached"]["step_s"] / by["lora/recompute"]["step_s"],
        "cached: lora/full step time": by["lora/cached"]["step_s"] / by["full/cached"]["step_s"],
        "cached: lora/full peak memory": by["lora/cached"]["peak_mem_gib"] / by["full/cached"]["peak_mem_gib"],
    }
    for k, v in ratios.items():
        print(f"ratio {k}: {v:.3f}")
    record = {
        "device": args.device_name,
        "dtype": str(dtype),
        "method": args.method,
        "batch": args.batch,
        "seq": args.seq,
        "grad_ckpt": bool(args.grad_ckpt),
        "tiny": tiny,
        "results": results,
        "ratios": ratios,
    }
    write_json(Path(args.out).expanduser(), record)
    print(f"written: {args.out}")
    return record
