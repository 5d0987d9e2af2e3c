"""Run a causal LM over the TOFU eval splits and return an eval log in TOFU's ``eval_log_aggregated.json`` layout.

For each of the four eval sets (retain, forget, real authors, world facts; TOFU, Maini et al. 2024 §2.2) and
each question:

* the per-answer loss ``L̄`` (mean token NLL over the answer tokens + EOS, prompt masked) of the answer, the
  paraphrased answer and every perturbed answer, from :func:`npo_lab.scoring.score_answers`. The ``2 + K``
  answers of a question are scored in the same forward pass, ``batch_size`` questions at a time;
* a greedy generation from the prompt (batched, **left**-padded so that every prompt ends at the same position;
  only the new tokens are decoded) and its ROUGE-1 / ROUGE-L recall against the answer.

The numbers of the log are then read by :mod:`npo_lab.tofu.metrics` (``model_utility``, ``forget_quality``, ...).

Eval split per section (:data:`SECTION_SPLITS`): retain → ``retain_perturbed``; forget →
``eval_split_for(forget_split)`` (``forget10_perturbed`` for every forget split ≥ 10 %); real authors →
``real_authors_perturbed``; world facts → ``world_facts_perturbed``; each limited to its first ``max_rows`` rows
(the paper: 300).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch

from ..scoring import model_device, score_answers
from .data import encode_prompt, load_tofu, pad_batch
from .logs import SECTIONS, section_name
from .splits import eval_split_for
from .templates import get_template

__all__ = ["SECTION_SPLITS", "eval_splits", "answer_rows", "generate_answers", "evaluate_rows", "evaluate"]

#: section short name -> eval split (the forget one depends on the forget split: :func:`eval_split_for`)
SECTION_SPLITS: dict[str, str] = {
    "retain": "retain_perturbed",
    "forget": "{forget}",
    "real_authors": "real_authors_perturbed",
    "world_facts": "world_facts_perturbed",
}


def eval_splits(forget_split: str = "forget10", splits: Iterable[str] | None = None) -> dict[str, str]:
    """``{section key: eval split}`` for the requested sections (default: all four, TOFU's order)."""
    wanted = list(SECTIONS) if splits is None else [section_name(s) for s in splits]
    if not wanted:
        raise ValueError(f"splits must name at least one of {list(SECTIONS)}")
    out = {}
    for short in SECTIONS:  # keep TOFU's order
        if short in wanted:
            split = eval_split_for(forget_split) if short == "forget" else SECTION_SPLITS[short]
            out[SECTIONS[short]] = split
    return out


def _batches(seq: Sequence, size: int):
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


def answer_rows(rows: Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, str]], int]:
    """The ``2 + K`` scored answers of every eval row, flattened: ``[answer, paraphrased, perturbed_1..K]`` per row.

    Rows need ``question``, ``answer`` and ``perturbed_answer`` (K strings, the same K in every row); a row without
    ``paraphrased_answer`` (real authors, world facts) uses its answer in its place. Returns ``(qa_rows, K)``:
    ``qa_rows[i * (2 + K) + j]`` is answer ``j`` of row ``i``, as ``{"question", "answer"}``.
    """
    k = None
    out: list[dict[str, str]] = []
    for i, row in enumerate(rows):
        pert = row.get("perturbed_answer")
        if not isinstance(pert, (list, tuple)) or not pert:
            raise ValueError(f"row {i} has no 'perturbed_answer' list")
        if k is None:
            k = len(pert)
        elif len(pert) != k:
            raise ValueError(f"row {i} has {len(pert)} perturbed answers, row 0 has {k}")
        para = row.get("paraphrased_answer") or row["answer"]
        out += [{"question": row["question"], "answer": a} for a in (row["answer"], para, *pert)]
    if k is None:
        raise ValueError("rows must be a non-empty list of eval rows")
    return out, k


@torch.no_grad()
def generate_answers(
    model,
    tokenizer,
    questions: Sequence[str],
    *,
    template="qa",
    max_new_tokens: int = 64,
    batch_size: int = 16,
    device=None,
    progress_bar=None,
) -> list[str]:
    """Greedy answers to ``questions``: prompts left-padded in batches (sorted by length to pad little),
    ``model.generate(do_sample=False)``, only the new tokens decoded (special tokens skipped), stripped."""
    dev = torch.device(device) if device is not None else model_device(model)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    prompts = [encode_prompt(tokenizer, q, template) for q in questions]
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    out: list[str] = [""] * len(prompts)
    for idx in _batches(order, batch_size):
        feats = [{"input_ids": prompts[i], "attention_mask": [1] * len(prompts[i])} for i in idx]
        batch = pad_batch(feats, pad_id, padding_side="left")
        ids = batch["input_ids"].to(dev)
        gen = model.generate(
            input_ids=ids,
            attention_mask=batch["attention_mask"].to(dev),
            max_new_tokens=int(max_new_tokens),
            do_sample=False,
            num_beams=1,
            pad_token_id=pad_id,
            eos_token_id=tokenizer.eos_token_id,
        )
        new = gen[:, ids.shape[1] :].cpu()
        for i, text in zip(idx, tokenizer.batch_decode(new, skip_special_tokens=True)):
            out[i] = text.strip()
        if progress_bar is not None:
            progress_bar.update(len(idx))
    return out


def _rouge_recalls(generations: Sequence[str], answers: Sequence[str]) -> tuple[list[float], list[float]]:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=True)
    r1, rl = [], []
    for gen, ans in zip(generations, answers):
        s = scorer.score(ans, gen)
        r1.append(float(s["rouge1"].recall))
        rl.append(float(s["rougeL"].recall))
    return r1, rl


def evaluate_rows(
    model,
    tokenizer,
    rows: Sequence[Mapping[str, Any]],
    *,
    template="qa",
    batch_size: int = 16,
    max_new_tokens: int | None = None,
    max_length: int = 256,
    device=None,
    generate: bool = True,
    generation_batch_size: int | None = None,
    progress_bar=None,
) -> dict[str, list]:
    """One section of an eval log from already loaded rows (``question``, ``answer``, ``perturbed_answer``
    [, ``paraphrased_answer``]).

    Per-row fields (lists, TOFU's names): ``gt_loss``/``num_token_gt``/``avg_gt_loss`` (summed NLL, token
    count, mean NLL of the answer), the same for ``paraphrased`` and, per perturbed answer, ``perturb_loss``,
    ``num_token_perturb``, ``average_perturb_loss``; ``truth_ratio`` (TOFU's per-row field,
    ``exp(L̄_para − mean_j L̄_pert,j) = 1/R``); ``generated_text`` ``[prompt, generation, answer]``,
    ``rouge1_recall`` and ``rougeL_recall`` (empty generations and zero recalls when ``generate=False``).
    """
    if not rows:
        raise ValueError("rows must be a non-empty list of eval rows")
    tpl = get_template(template)
    sec: dict[str, list] = {
        k: []
        for k in (
            "avg_gt_loss",
            "gt_loss",
            "num_token_gt",
            "avg_paraphrased_loss",
            "paraphrased_loss",
            "num_token_paraphrased",
            "average_perturb_loss",
            "perturb_loss",
            "num_token_perturb",
            "truth_ratio",
        )
    }
    for chunk in _batches(list(rows), batch_size):
        qa, k = answer_rows(chunk)
        scores = score_answers(
            model, tokenizer, qa, template=tpl, max_length=max_length, batch_size=len(qa), device=device
        )
        nll, n = -scores.logp, scores.n_tokens
        if (n == 0).any():
            raise ValueError("an answer has no tokens to score (check max_length and the data)")
        nll = nll.view(len(chunk), 2 + k)
        n = n.view(len(chunk), 2 + k)
        avg = nll / n
        if not torch.isfinite(avg).all():
            raise ValueError("the model produced non-finite losses (NaN or inf)")
        for i in range(len(chunk)):
            sec["gt_loss"].append(float(nll[i, 0]))
            sec["num_token_gt"].append(int(n[i, 0]))
            sec["avg_gt_loss"].append(float(avg[i, 0]))
            sec["paraphrased_loss"].append(float(nll[i, 1]))
            sec["num_token_paraphrased"].append(int(n[i, 1]))
            sec["avg_paraphrased_loss"].append(float(avg[i, 1]))
            sec["perturb_loss"].append([float(x) for x in nll[i, 2:]])
            sec["num_token_perturb"].append([int(x) for x in n[i, 2:]])
            sec["average_perturb_loss"].append([float(x) for x in avg[i, 2:]])
            sec["truth_ratio"].append(math.exp(float(avg[i, 1]) - float(avg[i, 2:].mean())))
        if progress_bar is not None:
            progress_bar.update(len(chunk))
    questions = [r["question"] for r in rows]
    answers = [r["answer"] for r in rows]
    if generate:
        if max_new_tokens is None:
            longest = max(len(tokenizer(a, add_special_tokens=False)["input_ids"]) for a in answers)
            max_new_tokens = longest + 16
        gens = generate_answers(
            model,
            tokenizer,
            questions,
            template=tpl,
            max_new_tokens=max_new_tokens,
            batch_size=generation_batch_size or 4 * batch_size,
            device=device,
            progress_bar=progress_bar,
        )
        r1, rl = _rouge_recalls(gens, answers)
    else:
        gens, r1, rl = [""] * len(rows), [0.0] * len(rows), [0.0] * len(rows)
    sec["generated_text"] = [[tpl.prompt(q, tokenizer), g, a] for q, g, a in zip(questions, gens, answers)]
    sec["rouge1_recall"] = r1
    sec["rougeL_recall"] = rl
    return sec


def evaluate(
    model,
    tokenizer,
    *,
    source=None,
    forget_split: str = "forget10",
    template="qa",
    max_rows: int | None = 300,
    batch_size: int = 16,
    max_new_tokens: int | None = None,
    device=None,
    progress: bool = True,
    splits: Iterable[str] | None = None,
    max_length: int = 256,
    generation_batch_size: int | None = None,
) -> dict[str, dict[str, list]]:
    """Evaluate a causal LM on the TOFU eval sets; returns an eval log (TOFU layout, per-row lists).

    Args:
        model: a ``transformers`` causal LM (any device; put in eval mode here and restored to its previous mode
            afterwards; no gradients).
        tokenizer: its tokenizer (needs an EOS token; the pad token defaults to EOS).
        source: where the eval splits come from (see :func:`npo_lab.tofu.data.load_tofu`).
        forget_split: the forget split whose forget side is evaluated (``eval_split_for(forget_split)``).
        template: prompt template name or :class:`~npo_lab.tofu.data.PromptTemplate`.
        max_rows: first rows per eval split (the paper: 300); ``None`` = all.
        batch_size: questions per loss forward pass (each expands to 2 + K answers) and prompts per generation.
        max_new_tokens: generation length; ``None`` = the section's longest answer (in tokens) + 16.
        device: where inputs go; default the device of the model's input embeddings.
        progress: show a tqdm bar.
        splits: subset of ``retain``, ``forget``, ``real_authors``, ``world_facts`` (or their TOFU keys).
        max_length: truncation length of prompt + answer (:func:`~npo_lab.tofu.data.encode_qa`).
        generation_batch_size: prompts per generation batch (default ``4 * batch_size``: a loss batch holds
            ``(2 + K) * batch_size`` sequences, and fewer, larger generation batches mean fewer decoding steps).
    Returns:
        ``{"eval_log.json": {...}, "eval_real_author_wo_options.json": ..., "eval_real_world_wo_options.json":
        ..., "eval_log_forget.json": ...}`` (the requested sections), each as in :func:`evaluate_rows`.
    """
    if max_rows is not None and (isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1):
        raise ValueError(f"max_rows must be a positive integer or None, got {max_rows!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    plan = eval_splits(forget_split, splits)
    data = {}
    for key, split in plan.items():
        rows = load_tofu(split, source).to_list()
        data[key] = rows[: int(max_rows)] if max_rows is not None else rows
        if not data[key]:
            raise ValueError(f"eval split {split!r} has no rows")
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=2 * sum(len(r) for r in data.values()), desc="TOFU eval", unit="row", leave=False)
    was_training = model.training
    model.eval()
    log: dict[str, dict[str, list]] = {}
    try:
        for key, rows in data.items():
            if bar is not None:
                bar.set_postfix_str(section_name(key))
            log[key] = evaluate_rows(
                model,
                tokenizer,
                rows,
                template=template,
                batch_size=batch_size,
                max_new_tokens=max_new_tokens,
                max_length=max_length,
                device=device,
                generation_batch_size=generation_batch_size,
                progress_bar=bar,
            )
    finally:
        model.train(was_training)
        if bar is not None:
            bar.close()
    return log
