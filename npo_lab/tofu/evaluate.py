"""Run a causal LM over the TOFU eval splits and return an eval log in TOFU's ``eval_log_aggregated.json`` layout.

For each of the four eval sets (retain, forget, real authors, world facts; TOFU, Maini et al. 2024 §2.2) and
each question:

* the per-answer loss ``L̄`` (mean token NLL over the answer tokens + EOS, prompt masked) of the answer, the
  paraphrased answer and every perturbed answer, from :func:`npo_lab.scoring.score_answers`. The ``2 + K``
  answers of a question share one forward pass of its prompt and of the prefixes they have in common,
  ``batch_size`` questions at a time;
* a greedy generation from the prompt (:func:`npo_lab.generation.greedy_generate`: batched, **left**-padded so that
  every prompt ends at the same position, a key/value cache; the scoring pass already fixes the greedy answer up
  to its first disagreement with one of the scored answers) and its ROUGE-1 / ROUGE-L recall against the answer.

``engine="reference"`` computes the same log with the plain passes (:func:`npo_lab.scoring.score_answers_reference`,
``model.generate``): several times slower, kept as the check of the fast path (same numbers up to float rounding).

The numbers of the log are then read by :mod:`npo_lab.tofu.metrics` (``model_utility``, ``forget_quality``, ...).

Eval split per section (:data:`SECTION_SPLITS`): retain → ``retain_perturbed``; forget →
``eval_split_for(forget_split)`` (``forget10_perturbed`` for every forget split ≥ 10 %); real authors →
``real_authors_perturbed``; world facts → ``world_facts_perturbed``; each limited to its first ``max_rows`` rows
(the paper: 300).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch

from ..generation import draft_prefix, greedy_generate, greedy_generate_reference
from ..scoring import encode_prompts, eval_mode, score_answers, score_answers_reference
from .data import load_tofu_rows
from .logs import SECTIONS, section_name
from .splits import eval_split_for
from .templates import get_template

__all__ = ["SECTION_SPLITS", "ENGINES", "eval_splits", "answer_rows", "generate_answers", "evaluate_rows", "evaluate"]

#: how an eval log is computed: ``fast`` (shared prompt passes, cached greedy decoding) or ``reference`` (the plain
#: full-sequence passes and ``model.generate``; the same numbers up to float rounding)
ENGINES = ("fast", "reference")

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


def _engine(engine: str) -> str:
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}; got {engine!r}")
    return engine


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
    drafts: Sequence[Sequence[tuple[Sequence[int], Sequence[int]]]] | None = None,
    engine: str = "fast",
) -> list[str]:
    """Greedy answers to ``questions``: prompts left-padded in batches (sorted by length to pad little), greedy
    decoding (:func:`npo_lab.generation.greedy_generate`; ``engine="reference"``: ``model.generate(do_sample=False)``),
    only the new tokens decoded (special tokens skipped), stripped.

    ``drafts``: per question, ``(target_ids, greedy_ids)`` of its scored answers (:class:`npo_lab.scoring.Scores`
    with ``greedy_ids=True``); the greedy answer is then known up to their first disagreement
    (:func:`npo_lab.generation.draft_prefix`) and decoding starts there.
    """
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    prompts = encode_prompts(tokenizer, questions, template)
    kw = dict(
        max_new_tokens=int(max_new_tokens),
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=pad_id,
        batch_size=int(batch_size),
        device=device,
        progress_bar=progress_bar,
    )
    if _engine(engine) == "reference":
        new = greedy_generate_reference(model, prompts, **kw)
    else:
        if drafts is not None and len(drafts) != len(prompts):
            raise ValueError(f"drafts must have one entry per question ({len(prompts)}), got {len(drafts)}")
        prefixes = None if drafts is None else [draft_prefix(d, tokenizer.eos_token_id) for d in drafts]
        new = greedy_generate(model, prompts, prefixes=prefixes, **kw)
    return [text.strip() for text in tokenizer.batch_decode(new, skip_special_tokens=True)]


class _CachedStemmer:
    """``rouge_score``'s Porter stemmer with a memory (a pure function of the word; words recur across answers and
    evaluations, and stemming is most of ROUGE's time)."""

    def __init__(self, stemmer):
        self.stem = functools.lru_cache(maxsize=1 << 16)(stemmer.stem)


_SCORER = None


def _rouge_scorer():
    """One ``RougeScorer(["rouge1", "rougeL"], use_stemmer=True)`` for the process, its stemmer memoised."""
    global _SCORER
    if _SCORER is None:
        from rouge_score import rouge_scorer, tokenizers

        tok = tokenizers.DefaultTokenizer(use_stemmer=True)
        if getattr(tok, "_stemmer", None) is not None:
            tok._stemmer = _CachedStemmer(tok._stemmer)
        _SCORER = rouge_scorer.RougeScorer(["rouge1", "rougeL"], tokenizer=tok)
    return _SCORER


def _rouge_recalls(generations: Sequence[str], answers: Sequence[str]) -> tuple[list[float], list[float]]:
    scorer = _rouge_scorer()
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
    engine: str = "fast",
) -> dict[str, list]:
    """One section of an eval log from already loaded rows (``question``, ``answer``, ``perturbed_answer``
    [, ``paraphrased_answer``]).

    Per-row fields (lists, TOFU's names): ``gt_loss``/``num_token_gt``/``avg_gt_loss`` (summed NLL, token
    count, mean NLL of the answer), the same for ``paraphrased`` and, per perturbed answer, ``perturb_loss``,
    ``num_token_perturb``, ``average_perturb_loss``; ``truth_ratio`` (TOFU's per-row field,
    ``exp(L̄_para − mean_j L̄_pert,j) = 1/R``); ``generated_text`` ``[prompt, generation, answer]``,
    ``rouge1_recall`` and ``rougeL_recall`` (empty generations and zero recalls when ``generate=False``).
    ``engine``: one of :data:`ENGINES` (the module docstring).
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
    rows = list(rows)
    qa, k = answer_rows(rows)
    drafts = None
    if _engine(engine) == "reference":  # today's plain passes, batch_size questions at a time
        parts = [
            score_answers_reference(
                model, tokenizer, chunk, template=tpl, max_length=max_length, batch_size=len(chunk), device=device
            )
            for chunk in _batches(qa, (2 + k) * batch_size)
        ]
        logp, n = torch.cat([p.logp for p in parts]), torch.cat([p.n_tokens for p in parts])
        if progress_bar is not None:
            progress_bar.update(len(rows))
    else:
        scores = score_answers(
            model,
            tokenizer,
            qa,
            template=tpl,
            max_length=max_length,
            batch_size=(2 + k) * batch_size,
            device=device,
            greedy_ids=generate,
        )
        logp, n = scores.logp, scores.n_tokens
        if generate and scores.greedy_ids is not None:  # None: a model without a cache took the plain path
            pairs = list(zip(scores.target_ids, scores.greedy_ids))
            drafts = [pairs[i * (2 + k) : (i + 1) * (2 + k)] for i in range(len(rows))]
        if progress_bar is not None:
            progress_bar.update(len(rows))
    if (n == 0).any():
        raise ValueError("an answer has no tokens to score (check max_length and the data)")
    nll = (-logp).view(len(rows), 2 + k)
    n = n.view(len(rows), 2 + k)
    avg = nll / n
    if not torch.isfinite(avg).all():
        raise ValueError("the model produced non-finite losses (NaN or inf)")
    nll_l, n_l, avg_l = nll.tolist(), n.tolist(), avg.tolist()
    for i in range(len(rows)):
        sec["gt_loss"].append(nll_l[i][0])
        sec["num_token_gt"].append(n_l[i][0])
        sec["avg_gt_loss"].append(avg_l[i][0])
        sec["paraphrased_loss"].append(nll_l[i][1])
        sec["num_token_paraphrased"].append(n_l[i][1])
        sec["avg_paraphrased_loss"].append(avg_l[i][1])
        sec["perturb_loss"].append(nll_l[i][2:])
        sec["num_token_perturb"].append(n_l[i][2:])
        sec["average_perturb_loss"].append(avg_l[i][2:])
        sec["truth_ratio"].append(math.exp(avg_l[i][1] - float(avg[i, 2:].mean())))
    questions = [r["question"] for r in rows]
    answers = [r["answer"] for r in rows]
    if generate:
        if max_new_tokens is None:
            longest = max(len(ids) for ids in tokenizer(answers, add_special_tokens=False)["input_ids"])
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
            drafts=drafts,
            engine=engine,
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
    engine: str = "fast",
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
        progress: show a progress bar (:func:`npo_lab.progress.progress_bar`).
        splits: subset of ``retain``, ``forget``, ``real_authors``, ``world_facts`` (or their TOFU keys).
        max_length: truncation length of prompt + answer (:func:`~npo_lab.tofu.data.encode_qa`).
        generation_batch_size: prompts per generation batch (default ``4 * batch_size``: a loss batch holds
            ``(2 + K) * batch_size`` sequences, and fewer, larger generation batches mean fewer decoding steps).
        engine: ``"fast"`` (default) or ``"reference"`` (the plain passes and ``model.generate``; same numbers up to
            float rounding, several times slower).
    Returns:
        ``{"eval_log.json": {...}, "eval_real_author_wo_options.json": ..., "eval_real_world_wo_options.json":
        ..., "eval_log_forget.json": ...}`` (the requested sections), each as in :func:`evaluate_rows`.
    """
    if max_rows is not None and (isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1):
        raise ValueError(f"max_rows must be a positive integer or None, got {max_rows!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    _engine(engine)
    plan = eval_splits(forget_split, splits)
    data = {}
    for key, split in plan.items():
        rows = load_tofu_rows(split, source)
        data[key] = rows[: int(max_rows)] if max_rows is not None else rows
        if not data[key]:
            raise ValueError(f"eval split {split!r} has no rows")
    bar = None
    if progress:
        from ..progress import progress_bar

        bar = progress_bar(total=2 * sum(len(r) for r in data.values()), desc="TOFU eval", unit="row")
    log: dict[str, dict[str, list]] = {}
    try:
        with eval_mode(model):
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
                    engine=engine,
                )
    finally:
        if bar is not None:
            bar.close()
    return log
