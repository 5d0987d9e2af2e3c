"""Attacks that try to bring "forgotten" answers back: relearning, quantization, paraphrased questions.

An unlearned model that merely *suppresses* an answer may still hold it. Three cheap probes, each read with the
forget metrics of TOFU (:mod:`npo_lab.tofu.metrics`: probability ``P̃``, truth ratio, forget quality):

* **relearning** (Hu et al. 2024, arXiv 2406.13356; Lynch et al. 2024, arXiv 2402.16835, Sec. 4): fine-tune a
  copy of the model for ``steps`` AdamW steps on one half of the forget rows (:func:`split_halves`, fixed seed),
  then measure the *other* half. The retain model, relearned the same way, is the control: what relearning
  teaches from scratch (style, author names) is not "recovered" knowledge, so the recovery of a model is its
  held-out probability after relearning minus the relearned retain model's;
* **quantization** (Zhang et al. 2025, arXiv 2410.16454, Sec. 4): round-to-nearest fake quantization of every
  ``nn.Linear`` weight (:func:`quantize_tensor`, per-group asymmetric min–max, 8 and 4 bits, group 128) — an
  unlearning update smaller than the rounding step can vanish, restoring the fine-tuned model's answers (read
  with the forget probability ``P̃``);
* **paraphrase probe**: the forget questions reworded (TOFU's ``paraphrased_question``): the probability of the
  original answer and the ROUGE-L recall of the greedy answer.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch

__all__ = [
    "quantize_tensor",
    "quantize_model",
    "split_halves",
    "relearn",
    "relearned_copy",
    "forget_log",
    "forget_metrics",
    "paraphrase_probe",
]


# --------------------------------------------------------------------------------------------------------------
# quantization
# --------------------------------------------------------------------------------------------------------------
def _check_bits(bits: int, group_size: int) -> None:
    if isinstance(bits, bool) or not isinstance(bits, int) or not 2 <= bits <= 16:
        raise ValueError(f"bits must be an integer in [2, 16], got {bits!r}")
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 1:
        raise ValueError(f"group_size must be a positive integer, got {group_size!r}")


def quantize_tensor(
    w: torch.Tensor, bits: int, group_size: int = 128, *, return_scale: bool = False
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Round-to-nearest fake quantization of ``w`` in groups of ``group_size`` consecutive entries of its last dim.

    Per group ``g`` (the last group may be shorter): ``s = (max g − min g) / (2^bits − 1)``, zero point
    ``z = round(−min g / s)``, ``q(w) = s · (clamp(round(w/s) + z, 0, 2^bits − 1) − z)``, so that
    ``|w − q(w)| ≤ s/2`` for every entry (a constant group, ``s = 0``, is kept exactly). Computed in float32 and
    returned in ``w``'s dtype and shape; ``return_scale=True`` also returns ``s`` of shape ``(*w.shape[:-1],
    n_groups)``.
    """
    _check_bits(bits, group_size)
    if w.ndim == 0 or w.shape[-1] == 0:
        raise ValueError(f"w must have a non-empty last dimension, got shape {tuple(w.shape)}")
    levels = 2**bits - 1
    outs, scales = [], []
    for g in torch.split(w.detach().float(), group_size, dim=-1):
        lo, hi = g.amin(-1, keepdim=True), g.amax(-1, keepdim=True)
        s = (hi - lo) / levels
        safe = torch.where(s > 0, s, torch.ones_like(s))
        z = torch.round(-lo / safe)
        q = (torch.clamp(torch.round(g / safe) + z, 0, levels) - z) * safe
        outs.append(torch.where(s > 0, q, g))
        scales.append(s.squeeze(-1))
    out = torch.cat(outs, dim=-1).to(w.dtype)
    return (out, torch.stack(scales, dim=-1)) if return_scale else out


def quantize_model(model, bits: int, group_size: int = 128):
    """A deep copy of ``model`` with every ``nn.Linear`` weight replaced by :func:`quantize_tensor` of it
    (biases, embeddings and norms kept; a weight tied to the embeddings is quantized once, through the layer)."""
    _check_bits(bits, group_size)
    q = copy.deepcopy(model)
    with torch.no_grad():
        for module in q.modules():
            if isinstance(module, torch.nn.Linear):
                module.weight.copy_(quantize_tensor(module.weight, bits, group_size))
    return q.eval()


# --------------------------------------------------------------------------------------------------------------
# relearning
# --------------------------------------------------------------------------------------------------------------
def split_halves(rows: Sequence, seed: int = 0) -> tuple[list, list]:
    """``(train, held_out)``: a seeded random half of ``rows`` (``⌊n/2⌋`` rows) and the rest, each in row order."""
    rows = list(rows)
    if len(rows) < 2:
        raise ValueError(f"rows must hold at least 2 rows to split into halves, got {len(rows)}")
    perm = np.random.default_rng(seed).permutation(len(rows))
    train = set(perm[: len(rows) // 2].tolist())
    return [r for i, r in enumerate(rows) if i in train], [r for i, r in enumerate(rows) if i not in train]


def relearn(
    model,
    tokenizer,
    rows: Sequence,
    *,
    steps: int,
    learning_rate: float,
    batch_size: int = 8,
    seed: int = 0,
    template="qa",
    max_length: int = 256,
) -> list[float]:
    """Fine-tune ``model`` in place for ``steps`` AdamW steps on QA ``rows``; returns the loss of every step.

    Loss: mean answer-token NLL (+ EOS, prompt masked), as in fine-tuning. Batches of ``batch_size`` rows are
    drawn without replacement from seeded permutations (a new one per pass); no weight decay, no schedule.
    """
    from ..scoring import model_device
    from ..tofu.data import QACollator

    for name, v in (("steps", steps), ("batch_size", batch_size)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate!r}")
    rows = list(rows)
    if not rows:
        raise ValueError("rows must not be empty")
    collate = QACollator(tokenizer, template=template, max_length=max_length)
    dev = model_device(model)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=learning_rate, weight_decay=0.0)
    losses, queue = [], []
    model.train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # dropout, if the model has any
        for _ in range(steps):
            while len(queue) < min(batch_size, len(rows)):
                queue += torch.randperm(len(rows), generator=gen).tolist()
            idx, queue = queue[: min(batch_size, len(rows))], queue[min(batch_size, len(rows)) :]
            batch = {k: v.to(dev) for k, v in collate([rows[i] for i in idx]).items()}
            loss = model(**batch, use_cache=False).loss
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            losses.append(float(loss.detach()))
    model.eval()
    return losses


def relearned_copy(model, tokenizer, rows: Sequence, **kwargs):
    """A deep copy of ``model`` after :func:`relearn` on ``rows`` (``kwargs`` go to :func:`relearn`)."""
    m = copy.deepcopy(model)
    relearn(m, tokenizer, rows, **kwargs)
    return m


# --------------------------------------------------------------------------------------------------------------
# forget metrics
# --------------------------------------------------------------------------------------------------------------
def forget_log(model, tokenizer, rows: Sequence, *, template="qa", max_length: int = 256, batch_size: int = 16):
    """A TOFU eval log with only the forget section, for eval ``rows`` (``answer``, ``paraphrased_answer``,
    ``perturbed_answer``): per-row losses of every answer, no generation
    (:func:`npo_lab.tofu.evaluate.evaluate_rows` with ``generate=False``). ``batch_size`` counts sequences: a
    pass scores ``max(1, batch_size // (2 + K))`` questions with their ``2 + K`` answers."""
    from ..tofu.evaluate import evaluate_rows
    from ..tofu.logs import section_key

    rows = list(rows)
    k = len(rows[0].get("perturbed_answer") or []) if rows else 0
    sec = evaluate_rows(
        model,
        tokenizer,
        rows,
        template=template,
        batch_size=max(1, int(batch_size) // (2 + k)),
        max_length=max_length,
        generate=False,
    )
    return {section_key("forget"): sec}


def forget_metrics(log, reference_log=None) -> dict[str, float]:
    """``forget_probability`` (mean ``P̃``), ``forget_truth_ratio`` (mean ``min(R, 1/R)``) and, given the reference
    model's log of the same rows, ``forget_quality`` (KS-test p-value of the truth ratios; TOFU, Maini et al.
    2024, Sec. 2.2.3) — from :mod:`npo_lab.tofu.metrics`."""
    from ..tofu.metrics import forget_probability, forget_truth_ratio, ks_test

    out = {"forget_probability": forget_probability(log), "forget_truth_ratio": forget_truth_ratio(log)}
    if reference_log is not None:
        out["forget_quality"] = ks_test(log, reference_log)["pvalue"]
    return out


# --------------------------------------------------------------------------------------------------------------
# paraphrase probe
# --------------------------------------------------------------------------------------------------------------
def paraphrase_probe(
    model,
    tokenizer,
    rows: Sequence,
    *,
    template="qa",
    max_length: int = 256,
    batch_size: int = 16,
    generate: bool = True,
) -> dict[str, float]:
    """Forget answers asked with reworded questions (rows need ``paraphrased_question``).

    Returns ``paraphrase_probability`` (mean ``P̃(answer | paraphrased question)``) and, with ``generate``,
    ``paraphrase_rouge`` (mean ROUGE-L recall of the greedy answer to the paraphrased question; up to the longest
    answer + 16 new tokens, as TOFU's evaluation).
    """
    from ..scoring import score_answers
    from ..tofu.evaluate import generate_answers
    from ..tofu.metrics import rouge_l_recall

    rows = list(rows)
    missing = [i for i, r in enumerate(rows) if not r.get("paraphrased_question")]
    if not rows or missing:
        raise ValueError(
            f"rows must be forget eval rows with a 'paraphrased_question' (rows {missing[:5]} have none); "
            "use a TOFU forgetXX_perturbed split"
        )
    kw = dict(template=template, max_length=max_length, batch_size=batch_size)
    scores = score_answers(model, tokenizer, rows, question_key="paraphrased_question", **kw)
    out = {"paraphrase_probability": float(scores.probability().mean())}
    if generate:
        answers = [r["answer"] for r in rows]
        longest = max(len(tokenizer(a, add_special_tokens=False)["input_ids"]) for a in answers)
        gens = generate_answers(
            model,
            tokenizer,
            [r["paraphrased_question"] for r in rows],
            template=template,
            max_new_tokens=longest + 16,
            batch_size=4 * batch_size,
        )
        out["paraphrase_rouge"] = float(np.mean(rouge_l_recall(gens, answers)))
    return out
