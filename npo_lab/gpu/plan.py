"""Will it fit, and how long will it take? Memory and time estimates for unlearning a TOFU checkpoint on a GPU.

Every figure is derived from the model's configuration, the run's own settings (the
:class:`~npo_lab.unlearn.UnlearnConfig` objects that are run) and the sizes of the TOFU splits, or it is a named
``ASSUMED_*`` constant: an efficiency nobody has measured for this code yet. The results are **estimates**;
``npo-lab bench-gpu`` measures step time, peak memory and MFU on a card.

* Memory, AdamW with fp32 master weights: 4 (weight) + 4 (gradient) + 4 + 4 (Adam m, v) = 16 bytes per trained
  parameter; a frozen 16-bit base (LoRA) 2 bytes per parameter. Activations with gradient checkpointing: the
  layer inputs ``L·B·T·h·2`` bytes and one recomputed layer ``34·B·T·h`` (Korthikanti et al. 2022,
  arXiv 2205.05198, §4.1) per sequence group, plus the logits ``10·B·T·V`` (16-bit logits, fp32 log-softmax and
  its gradient).
* Training FLOPs per token: forward ``2N``, backward ``4N`` (``2N`` with a frozen base: no weight gradients),
  ``+2N`` for the forward recomputed under gradient checkpointing; seconds = FLOPs / (peak × ``mfu``).
* One evaluation (:mod:`npo_lab.tofu.evaluate`): scoring passes of ``2N·T`` FLOPs per scored answer, and greedy
  decoding, one step per new token per batch, each step reading all weights once:
  ``max(weight bytes / (bandwidth × ASSUMED_BANDWIDTH_EFFICIENCY), L × ASSUMED_DECODE_OVERHEAD_PER_LAYER_S)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from ..unlearn.schedule import eval_steps, steps_per_epoch, total_steps

__all__ = [
    "GIB",
    "TRAINED_PARAM_BYTES",
    "FROZEN_PARAM_BYTES",
    "ASSUMED_SEQUENCE_TOKENS",
    "ASSUMED_TOKENS_PER_WORD",
    "ASSUMED_BANDWIDTH_EFFICIENCY",
    "ASSUMED_DECODE_OVERHEAD_PER_LAYER_S",
    "ASSUMED_MODEL_LOAD_S",
    "Card",
    "CARDS",
    "find_card",
    "get_card",
    "peak_flops",
    "EvalSplit",
    "TOFU_EVAL_SPLITS",
    "forget_rows",
    "architecture",
    "ModelSize",
    "model_size",
    "EvalWork",
    "eval_work",
    "steps_per_epoch",
    "total_steps",
    "evaluations",
    "memory_gib",
    "checkpoint_gib",
    "Estimate",
    "estimate",
]

GIB = 2**30
FP32_BYTES, HALF_BYTES = 4, 2
#: fp32 master weight + fp32 gradient + Adam's m and v in fp32
TRAINED_PARAM_BYTES = FP32_BYTES + FP32_BYTES + 2 * FP32_BYTES
#: a frozen base model held in bf16 / fp16 (LoRA)
FROZEN_PARAM_BYTES = HALF_BYTES
#: one recomputed transformer layer's activations per token and hidden unit, 16-bit (Korthikanti et al. §4.1)
LAYER_ACTIVATION_BYTES = 34
#: per token and vocabulary entry: 16-bit logits (2) + fp32 log-softmax (4) + its fp32 gradient (4)
LOGIT_BYTES = HALF_BYTES + 2 * FP32_BYTES
FORWARD_FLOPS, BACKWARD_FLOPS, FROZEN_BACKWARD_FLOPS = 2, 4, 2  # per parameter and token
#: the margin npo_lab.tofu.evaluate adds to the longest answer when max_new_tokens is None
GENERATION_MARGIN_TOKENS = 16
#: 200 TOFU authors × 20 questions = 4000 rows; ``forgetXX`` holds XX % of them
TOFU_ROWS_PER_PERCENT = 4000 // 100

CUDA_CONTEXT_GIB = 0.5  # ASSUMED: CUDA context and allocator slack
ASSUMED_SEQUENCE_TOKENS = 160  # a padded batch row: template, question and answer (TOFU answers ≤ 65 words)
ASSUMED_TOKENS_PER_WORD = 1.3  # BPE tokenizers on English prose
ASSUMED_BANDWIDTH_EFFICIENCY = 0.6  # fraction of the data-sheet memory bandwidth a decoding step reaches
ASSUMED_DECODE_OVERHEAD_PER_LAYER_S = 1.5e-3  # eager transformers generate: Python and kernel launches per layer
ASSUMED_MODEL_LOAD_S = 60  # loading a checkpoint from the hub cache onto the GPU (the first download takes longer)


# --------------------------------------------------------------------------------------------------------------
# cards
# --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Card:
    """A GPU: ``memory_gib`` as torch reports it, ``peak_flops`` dense 16-bit tensor FLOP/s and ``bandwidth``
    bytes/s (vendor data sheets; fp16 for cards without bf16), ``mfu`` the ASSUMED fraction of the peak that
    training and scoring reach; ``match``: words of the device name that identify it."""

    name: str
    memory_gib: float
    peak_flops: float
    bandwidth: float
    mfu: float
    match: tuple[str, ...]


CARDS: dict[str, Card] = {
    c.name: c
    for c in (
        Card("T4 16GB", 15.0, 65e12, 320e9, 0.25, ("T4",)),
        Card("L4 24GB", 22.0, 121e12, 300e9, 0.25, ("L4",)),
        Card("A10 24GB", 22.0, 125e12, 600e9, 0.30, ("A10",)),
        Card("L40S 48GB", 44.4, 362e12, 864e9, 0.30, ("L40S",)),
        Card("A100 40GB", 39.4, 312e12, 1555e9, 0.35, ("A100",)),
        Card("A100 80GB", 79.2, 312e12, 2039e9, 0.35, ("A100", "80GB")),
        Card("H100 80GB", 79.2, 989e12, 3350e9, 0.35, ("H100",)),  # SXM; an H100 PCIe has 756e12
        Card("H200 141GB", 139.8, 989e12, 4800e9, 0.35, ("H200",)),
    )
}


def find_card(device_name: str) -> Card | None:
    """The :data:`CARDS` entry of a device name (``torch.cuda.get_device_name()``): every word of its ``match``
    is a word of the name (so ``L40S`` is not an ``L4``, ``A100`` not an ``A10``), the most specific entry first;
    ``None`` for an unknown card or the CPU."""
    words = set(str(device_name).upper().replace("-", " ").replace("_", " ").split())
    ranked = sorted(CARDS.values(), key=lambda c: len(c.match), reverse=True)
    return next((c for c in ranked if words.issuperset(c.match)), None)


def get_card(name: str) -> Card:
    """A card by its :data:`CARDS` key or device name; ValueError listing the known cards otherwise."""
    card = CARDS.get(name) or (find_card(name) if isinstance(name, str) else None)
    if card is None:
        raise ValueError(f"card must be one of {', '.join(CARDS)} (or a device name containing one); got {name!r}")
    return card


def peak_flops(device_name: str) -> float:
    """The card's peak dense 16-bit FLOP/s (NaN for an unknown card or the CPU): the denominator of MFU."""
    card = find_card(device_name)
    return card.peak_flops if card else float("nan")


# --------------------------------------------------------------------------------------------------------------
# TOFU and the checkpoints' architectures
# --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EvalSplit:
    """A TOFU eval split (locuslab/TOFU on the hub): ``rows``, ``perturbed`` answers per row, and the longest
    answer in words (it sets the generation length when ``max_new_tokens`` is None)."""

    rows: int
    perturbed: int
    longest_answer_words: int


TOFU_EVAL_SPLITS: dict[str, EvalSplit] = {
    "retain_perturbed": EvalSplit(400, 5, 57),
    "forget01_perturbed": EvalSplit(40, 5, 51),
    "forget05_perturbed": EvalSplit(200, 5, 51),
    "forget10_perturbed": EvalSplit(400, 5, 65),
    "real_authors_perturbed": EvalSplit(100, 3, 5),
    "world_facts_perturbed": EvalSplit(117, 3, 5),
}


def forget_rows(forget_split: str = "forget10") -> int:
    """Rows of a TOFU forget split: ``forgetXX`` holds XX % of the 4000 questions (forget10: 400)."""
    from ..tofu.splits import FORGET_SPLITS

    if forget_split not in FORGET_SPLITS:
        raise ValueError(f"forget_split must be one of {', '.join(FORGET_SPLITS)}; got {forget_split!r}")
    return int(forget_split.removeprefix("forget")) * TOFU_ROWS_PER_PERCENT


_LLAMA3 = dict(model_type="llama", vocab_size=128256, num_key_value_heads=8, rope_theta=500000.0)
#: public configuration values (the checkpoints' config.json), so that no estimate needs a download
_ARCHITECTURES = {
    "llama-3.2-1b": dict(_LLAMA3, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
                         num_attention_heads=32, tie_word_embeddings=True),
    "llama-3.2-3b": dict(_LLAMA3, hidden_size=3072, intermediate_size=8192, num_hidden_layers=28,
                         num_attention_heads=24, tie_word_embeddings=True),
    "llama-3.1-8b": dict(_LLAMA3, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                         num_attention_heads=32, tie_word_embeddings=False),
    "phi-1.5": dict(model_type="phi", vocab_size=51200, hidden_size=2048, intermediate_size=8192,
                    num_hidden_layers=24, num_attention_heads=32, partial_rotary_factor=0.5,
                    tie_word_embeddings=False),
    "llama2-7b": dict(model_type="llama", vocab_size=32000, hidden_size=4096, intermediate_size=11008,
                      num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32,
                      tie_word_embeddings=False),
}  # fmt: skip


def architecture(hub_id: str):
    """The ``transformers`` configuration of a registry checkpoint (:mod:`npo_lab.tofu.checkpoints`)."""
    from transformers import AutoConfig

    from ..tofu.checkpoints import get_checkpoint

    ckpt = get_checkpoint(hub_id)
    key = next(k for k in _ARCHITECTURES if k in ckpt.hub_id.lower())
    kwargs = dict(_ARCHITECTURES[key])
    return AutoConfig.for_model(kwargs.pop("model_type"), **kwargs)


@dataclass(frozen=True)
class ModelSize:
    """``n_params`` (tied embeddings once), ``lora_per_rank``: LoRA parameters per unit of rank,
    ``Σ (d_in + d_out)`` over the adapted linear layers; ``layers``, ``hidden``, ``vocab``."""

    n_params: int
    lora_per_rank: int
    layers: int
    hidden: int
    vocab: int


@lru_cache(maxsize=32)
def model_size(hub_id: str, lora_target_modules: tuple[str, ...] | None = None) -> ModelSize:
    """Counted on a model built on the meta device (no memory, no download); ``lora_target_modules`` default:
    the registry's entry, else :class:`~npo_lab.unlearn.UnlearnConfig`'s."""
    import torch
    from transformers import AutoModelForCausalLM

    from ..tofu.checkpoints import get_checkpoint
    from ..unlearn import UnlearnConfig

    config = architecture(hub_id)
    targets = lora_target_modules or get_checkpoint(hub_id).lora_target_modules or UnlearnConfig().lora_target_modules
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    n = sum(p.numel() for p in model.parameters())
    per_rank = sum(
        m.in_features + m.out_features
        for name, m in model.named_modules()
        if isinstance(m, torch.nn.Linear) and name.rsplit(".", 1)[-1] in targets
    )
    return ModelSize(n, per_rank, config.num_hidden_layers, config.hidden_size, config.vocab_size)


# --------------------------------------------------------------------------------------------------------------
# the work of a run
# --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EvalWork:
    """What one TOFU evaluation does, from its settings: ``questions`` over the four eval sets, ``scored_answers``
    (answer, paraphrase and the perturbed answers of each), ``generation_batches`` and ``decode_steps`` (new
    tokens × batches: an upper bound, a batch stops early when every row has ended)."""

    questions: int
    scored_answers: int
    generation_batches: int
    decode_steps: int


def eval_work(
    forget_split: str = "forget10", max_rows: int = 300, batch_size: int = 16, max_new_tokens: int | None = None
) -> EvalWork:
    """:class:`EvalWork` of ``npo_lab.tofu.evaluate.evaluate(forget_split=..., max_rows=..., batch_size=...,
    max_new_tokens=...)`` on the real TOFU splits (:data:`TOFU_EVAL_SPLITS`)."""
    from ..tofu.evaluate import eval_splits

    if max_rows < 1 or batch_size < 1:
        raise ValueError(f"max_rows and batch_size must be >= 1; got {max_rows}, {batch_size}")
    q = scored = batches = steps = 0
    for split in eval_splits(forget_split).values():
        s = TOFU_EVAL_SPLITS[split]
        n = min(max_rows, s.rows)
        new = max_new_tokens or math.ceil(s.longest_answer_words * ASSUMED_TOKENS_PER_WORD) + GENERATION_MARGIN_TOKENS
        q, scored = q + n, scored + n * (2 + s.perturbed)
        batches += math.ceil(n / batch_size)
        steps += math.ceil(n / batch_size) * new
    return EvalWork(q, scored, batches, steps)


def evaluations(cfg, n_forget: int) -> int:
    """Evaluations a run makes: the length of its schedule (:func:`npo_lab.unlearn.schedule.eval_steps`, which
    the trainer's evaluation callback follows): start, early, periodic or per-epoch, end."""
    return len(eval_steps(cfg, n_forget))


def _groups(cfg) -> tuple[int, int, int]:
    """(trained sequence groups per example, groups with a reference-model forward per step, cached groups)."""
    from ..losses import get_method

    needs = get_method(cfg.method).needs_by_group
    ref_step = sum("kl" in q for q in needs.values())
    cached = sum("ref_logp" in q for q in needs.values())
    if not cfg.cache_reference:
        ref_step, cached = ref_step + cached, 0
    return len(needs), ref_step, cached


def _tokens(cfg) -> int:
    return min(ASSUMED_SEQUENCE_TOKENS, cfg.max_length)


def memory_gib(hub_id: str, cfg) -> float:
    """Estimated peak GPU memory (GiB) of training ``hub_id`` with ``cfg`` (LoRA when ``cfg.lora_r`` > 0)."""
    size = model_size(hub_id, tuple(cfg.lora_target_modules))
    n, lora = size.n_params, cfg.lora_r * size.lora_per_rank
    states = FROZEN_PARAM_BYTES * n + TRAINED_PARAM_BYTES * lora if cfg.lora_r else TRAINED_PARAM_BYTES * n
    groups, ref_step, _ = _groups(cfg)
    ref_model = FP32_BYTES * n if ref_step and not cfg.lora_r else 0  # a frozen copy (LoRA: the base itself)
    bt = cfg.batch_size * _tokens(cfg)
    if cfg.gradient_checkpointing:
        layers = size.layers * bt * size.hidden * HALF_BYTES + LAYER_ACTIVATION_BYTES * bt * size.hidden
    else:
        layers = size.layers * LAYER_ACTIVATION_BYTES * bt * size.hidden
    activations = groups * (layers + LOGIT_BYTES * bt * size.vocab)
    return (states + ref_model + activations) / GIB + CUDA_CONTEXT_GIB


def checkpoint_gib(hub_id: str, cfg) -> float:
    """Disk size of one Trainer checkpoint, what resuming a run needs: the trained weights in fp32 and Adam's m
    and v (the LoRA adapters only, with ``cfg.lora_r`` > 0)."""
    size = model_size(hub_id, tuple(cfg.lora_target_modules))
    trained = cfg.lora_r * size.lora_per_rank if cfg.lora_r else size.n_params
    return trained * (FP32_BYTES + 2 * FP32_BYTES) / GIB


# --------------------------------------------------------------------------------------------------------------
# the estimate
# --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Estimate:
    """Estimated (not measured) cost of running ``configs`` on one ``card``: memory of the largest run,
    minutes of training per method, the number of evaluations and the minutes of one, the derived decoding
    throughput (tokens/s at the eval batch size), minutes of model loading, and the total."""

    hub_id: str
    card: str
    lora: bool
    n_params: int
    trainable: int
    memory_gib: float
    fits: bool
    train_minutes: dict[str, float]
    evaluations: int
    minutes_per_evaluation: float
    decode_tokens_per_s: float
    load_minutes: float
    total_minutes: float

    def row(self) -> dict:
        """The estimate as a table row."""
        return {
            "card": self.card,
            "mode": "LoRA" if self.lora else "full",
            "trainable (M)": round(self.trainable / 1e6, 1),
            "memory GiB": round(self.memory_gib, 1),
            "fits": self.fits,
            "train min": round(sum(self.train_minutes.values()), 1),
            "evaluations": self.evaluations,
            "min per evaluation": round(self.minutes_per_evaluation, 1),
            "decode tok/s": round(self.decode_tokens_per_s),
            "total min": round(self.total_minutes),
        }

    def summary(self) -> str:
        """One line, marked as an estimate."""
        mode = "LoRA" if self.lora else "full fine-tuning"
        return (
            f"ESTIMATE (not measured) for {self.hub_id.split('/')[-1]} on a {self.card}, {mode}: "
            f"{self.memory_gib:.1f} GiB ({'fits' if self.fits else 'does NOT fit'}), training "
            f"{sum(self.train_minutes.values()):.0f} min + {self.evaluations} evaluations × "
            f"{self.minutes_per_evaluation:.1f} min + loading {self.load_minutes:.0f} min = "
            f"{self.total_minutes:.0f} min"
        )


def _eval_seconds(size: ModelSize, card: Card, cfg, forget_split: str) -> tuple[float, float]:
    """(seconds of one evaluation, decoded tokens per second)."""
    work = eval_work(forget_split, cfg.eval_max_rows, cfg.eval_batch_size, cfg.eval_max_new_tokens)
    flops = FORWARD_FLOPS * size.n_params * _tokens(cfg) * (work.scored_answers + work.questions)
    weight_bytes = (FROZEN_PARAM_BYTES if cfg.lora_r else FP32_BYTES) * size.n_params
    step_s = max(
        weight_bytes / (card.bandwidth * ASSUMED_BANDWIDTH_EFFICIENCY),
        size.layers * ASSUMED_DECODE_OVERHEAD_PER_LAYER_S,
    )
    return flops / (card.peak_flops * card.mfu) + work.decode_steps * step_s, cfg.eval_batch_size / step_s


def _train_seconds(size: ModelSize, card: Card, cfg, n_forget: int) -> float:
    groups, ref_step, cached = _groups(cfg)
    backward = FROZEN_BACKWARD_FLOPS if cfg.lora_r else BACKWARD_FLOPS
    trained = FORWARD_FLOPS + backward + (FORWARD_FLOPS if cfg.gradient_checkpointing else 0)
    tokens_per_group = total_steps(cfg, n_forget) * cfg.batch_size * cfg.gradient_accumulation_steps * _tokens(cfg)
    flops = size.n_params * tokens_per_group * (groups * trained + ref_step * FORWARD_FLOPS)
    flops += size.n_params * cached * n_forget * _tokens(cfg) * FORWARD_FLOPS  # the reference cache, once
    return flops / (card.peak_flops * card.mfu)


def estimate(
    hub_id: str,
    card: str | Card,
    configs: Sequence,
    *,
    forget_split: str = "forget10",
    n_forget: int | None = None,
    extra_evaluations: int = 0,
) -> Estimate:
    """Estimate running ``configs`` (:class:`~npo_lab.unlearn.UnlearnConfig`, one per method, run one after
    another) on ``hub_id`` with ``card``; ``extra_evaluations`` with the first config's eval settings (the
    fine-tuned and retain models). ``n_forget`` default: the rows of ``forget_split``."""
    card = card if isinstance(card, Card) else get_card(card)
    if not configs:
        raise ValueError("configs must hold at least one UnlearnConfig")
    n_forget = forget_rows(forget_split) if n_forget is None else int(n_forget)
    lora = {bool(c.lora_r) for c in configs}
    if len(lora) != 1:
        raise ValueError("configs must all use LoRA (lora_r > 0) or all full fine-tuning")
    size = model_size(hub_id, tuple(configs[0].lora_target_modules))
    train = {c.method: _train_seconds(size, card, c, n_forget) / 60 for c in configs}
    per_eval = [_eval_seconds(size, card, c, forget_split) for c in configs]
    n_evals = [evaluations(c, n_forget) for c in configs]
    eval_minutes = (sum(n * s for n, (s, _) in zip(n_evals, per_eval)) + extra_evaluations * per_eval[0][0]) / 60
    memory = max(memory_gib(hub_id, c) for c in configs)
    loads = (len(configs) + extra_evaluations) * ASSUMED_MODEL_LOAD_S / 60  # a fresh model per run and evaluation
    return Estimate(
        hub_id=hub_id,
        card=card.name,
        lora=lora.pop(),
        n_params=size.n_params,
        trainable=configs[0].lora_r * size.lora_per_rank or size.n_params,
        memory_gib=memory,
        fits=memory <= card.memory_gib,
        train_minutes=train,
        evaluations=sum(n_evals) + extra_evaluations,
        minutes_per_evaluation=per_eval[0][0] / 60,
        decode_tokens_per_s=per_eval[0][1],
        load_minutes=loads,
        total_minutes=sum(train.values()) + eval_minutes + loads,
    )
