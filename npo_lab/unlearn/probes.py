"""Cheap per-step probes of an unlearning run: answer probabilities of fixed rows and NPO's weight W.

A probe scores a few fixed groups of (question, answer) rows — the forget rows and a fixed sample of retain and
general rows — with one no-grad forward per batch, after every optimiser step:

* ``<group>_probability``: the mean over the group's rows of TOFU's length-normalised probability
  ``P̃ = exp(logp / |y|)`` (the mean per-token probability of the answer);
* ``<group>_logp``: the mean over the rows of the summed answer log-prob ``logp = log π_θ(y|x)``;
* ``utility``: the utility proxy, the mean ``P̃`` over the retain and general probe rows together (the general
  rows stand for pre-training knowledge: both mini-TOFU models were trained on them);
* ``forget_logp_rows`` and ``W_rows``: per forget row, ``logp`` and NPO's weight
  ``W = 2σ(β·(logp − ref_logp))`` (paper arXiv 2404.05868, Eq. 4; :func:`npo_lab.losses.npo_weight`), with
  ``ref_logp`` the forget rows' log-probs under the initial model (step 0).

Two steps are *marked* (:class:`ProbeMarks`): **collapse**, the first step whose utility proxy is below
``collapse_fraction`` (½) of the initial (fine-tuned) model's, and **matched forgetting**, the first step whose
forget probability is at or below the retain model's (``forget_target``), where methods compare at equal
forgetting. The rows are encoded once (as in training, :func:`npo_lab.tofu.data.encode_qa`) and padded once, so a
probe is only the forward passes. :class:`~npo_lab.unlearn.callbacks.ProbeCallback` runs it inside training.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch

from ..losses import npo_weight, sequence_logprob, token_count
from .data import qa_rows

__all__ = ["PROBES_FILE", "PROBE_GROUPS", "ProbeScorer", "ProbeMarks", "sample_rows", "load_probes"]

PROBES_FILE = "probes.jsonl"
#: the groups a probe may score; ``forget`` is required, the utility proxy pools ``retain`` and ``general``
PROBE_GROUPS = ("forget", "retain", "general")
UTILITY_GROUPS = ("retain", "general")


def sample_rows(rows, n: int, seed: int = 0) -> list[dict]:
    """A fixed sample of ``n`` rows (all rows when there are fewer), drawn by ``seed``, in their original order."""
    import random

    rows = qa_rows(rows, "rows")
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError(f"n must be an integer >= 0, got {n!r}")
    if n >= len(rows):
        return rows
    keep = sorted(random.Random(seed).sample(range(len(rows)), n))
    return [rows[i] for i in keep]


class ProbeScorer:
    """Scores fixed row groups under a model: per-row summed log-prob and token count, one forward per batch.

    Args:
        tokenizer: the model's tokenizer.
        groups: ``{group: rows}`` with groups from :data:`PROBE_GROUPS` (``forget`` required); rows are mappings
            with ``question`` and ``answer``.
        template, max_length: the encoding of training (:func:`npo_lab.tofu.data.encode_qa`).
        batch_size: rows per forward (all groups are scored together).
    """

    def __init__(self, tokenizer, groups: Mapping[str, object], *, template="qa", max_length=256, batch_size=32):
        from ..tofu.data import encode_qa, pad_batch

        if not isinstance(groups, Mapping) or "forget" not in groups:
            raise ValueError(f"groups must be a mapping with a 'forget' entry (groups: {', '.join(PROBE_GROUPS)})")
        bad = sorted(set(groups) - set(PROBE_GROUPS))
        if bad:
            raise ValueError(f"unknown probe group(s) {bad}; allowed: {', '.join(PROBE_GROUPS)}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        self.rows = {g: qa_rows(r, f"groups[{g!r}]") for g, r in groups.items()}
        self.rows = {g: r for g, r in self.rows.items() if r}
        if "forget" not in self.rows:
            raise ValueError("groups['forget'] is empty: give at least one forget row")
        self.names = [g for g in PROBE_GROUPS if g in self.rows]
        feats, self.slices, start = [], {}, 0
        for g in self.names:
            feats += [encode_qa(tokenizer, r["question"], r["answer"], template, max_length) for r in self.rows[g]]
            self.slices[g] = slice(start, len(feats))
            start = len(feats)
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        # sorted by length so that a batch pads little; ``order`` maps back
        order = sorted(range(len(feats)), key=lambda i: len(feats[i]["input_ids"]))
        self.order = torch.tensor(order)
        self.batches = [
            pad_batch([feats[i] for i in order[s : s + batch_size]], pad_id) for s in range(0, len(order), batch_size)
        ]
        self.fast: bool | None = None  # answer-position logits only; checked against the full logits once
        self.n_tokens = torch.empty(len(feats), dtype=torch.long)
        self.n_tokens[self.order] = torch.cat([token_count(b["labels"]) for b in self.batches])

    @torch.no_grad()
    def logp(self, model, context: Callable[[], contextlib.AbstractContextManager] | None = None) -> torch.Tensor:
        """Summed answer log-prob of every row (groups in :attr:`names` order), ``(N,)`` float32 on the CPU. The
        model is in eval mode during the forwards and its mode is restored.

        The output layer and the softmax run on the answer positions only (the decoder's hidden states there
        times the output embedding), which is most of a small model's cost; a model without
        ``get_decoder``/``get_output_embeddings`` is scored with its full logits (:func:`sequence_logprob`)."""
        from ..scoring import eval_mode, model_device

        dev = model_device(model)
        out = []
        with eval_mode(model):
            for b in self.batches:
                ids, mask, labels = b["input_ids"].to(dev), b["attention_mask"].to(dev), b["labels"].to(dev)
                with context() if context is not None else contextlib.nullcontext():
                    if self.fast is None:  # once: the fast path must agree with the full logits of this model
                        full, part = _full_logp(model, ids, mask, labels), _answer_logp(model, ids, mask, labels)
                        self.fast = bool(torch.allclose(full, part, rtol=1e-4, atol=1e-3))
                    out.append(_answer_logp(model, ids, mask, labels, self.fast).float().cpu())
        flat = torch.empty(len(self.order))
        flat[self.order] = torch.cat(out)
        return flat

    def row(self, logp: torch.Tensor, *, ref_logp: torch.Tensor | None = None, beta: float | None = None) -> dict:
        """The probe record of one step from :meth:`logp`'s output (see the module docstring)."""
        prob = torch.exp(logp / self.n_tokens.clamp(min=1))
        out: dict = {}
        for g in self.names:
            s = self.slices[g]
            out[f"{g}_probability"] = float(prob[s].mean())
            out[f"{g}_logp"] = float(logp[s].mean())
        util = [prob[self.slices[g]] for g in UTILITY_GROUPS if g in self.slices]
        out["utility"] = float(torch.cat(util).mean()) if util else None
        forget = logp[self.slices["forget"]]
        out["forget_logp_rows"] = [round(float(v), 4) for v in forget]
        if ref_logp is not None and beta is not None:
            w = npo_weight(forget, ref_logp.to(forget.dtype), beta)
            out["W_mean"] = float(w.mean())
            out["W_rows"] = [float(f"{float(v):.5g}") for v in w]
        return out

    def score(self, model, **kw) -> dict:
        """:meth:`row` of the model's current :meth:`logp` (``kw``: ``ref_logp``, ``beta``)."""
        return self.row(self.logp(model), **kw)


def _full_logp(model, input_ids, attention_mask, labels) -> torch.Tensor:
    logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits
    return sequence_logprob(logits, labels, validate=False)


def _answer_logp(model, input_ids, attention_mask, labels, fast: bool = True) -> torch.Tensor:
    """``(B,)`` summed log-prob of the label tokens (``-100`` masked), as :func:`sequence_logprob` of the model's
    logits; ``fast`` computes the logits only where a label is predicted (decoder hidden states × output layer)."""
    decoder = getattr(model, "get_decoder", lambda: None)()
    head = getattr(model, "get_output_embeddings", lambda: None)()
    if not fast or decoder is None or head is None:
        return _full_logp(model, input_ids, attention_mask, labels)
    hidden = decoder(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state
    target = labels[:, 1:]
    where = target != -100
    logits = head(hidden[:, :-1][where]).float()  # (n_answer_tokens, V)
    tok = torch.log_softmax(logits, dim=-1).gather(-1, target[where].unsqueeze(-1)).squeeze(-1)
    rows = where.nonzero()[:, 0]
    return torch.zeros(labels.shape[0], device=tok.device).index_add_(0, rows, tok)


@dataclass
class ProbeMarks:
    """The marked steps of a run: ``collapse`` (utility proxy < ``collapse_fraction`` × ``utility_start``) and
    ``matched_forgetting`` (forget probability ≤ ``forget_target``); ``None`` until reached."""

    utility_start: float | None = None
    forget_target: float | None = None
    collapse_fraction: float = 0.5
    steps: dict = field(default_factory=lambda: {"collapse": None, "matched_forgetting": None})

    def __post_init__(self) -> None:
        if not (0 < self.collapse_fraction < 1):
            raise ValueError(f"collapse_fraction must be in (0, 1), got {self.collapse_fraction!r}")
        if self.forget_target is not None and not (math.isfinite(self.forget_target) and self.forget_target >= 0):
            raise ValueError(f"forget_target must be a probability >= 0, got {self.forget_target!r}")

    def update(self, step: int, row: Mapping) -> list[str]:
        """Mark what ``row`` (a probe record at ``step``) reaches first; returns the names marked now."""
        if self.utility_start is None:
            self.utility_start = row.get("utility")
        new = []
        u = row.get("utility")
        if self.steps["collapse"] is None and u is not None and self.utility_start:
            if u < self.collapse_fraction * self.utility_start:
                new.append("collapse")
        f = row.get("forget_probability")
        if self.steps["matched_forgetting"] is None and self.forget_target is not None and f is not None:
            if f <= self.forget_target:
                new.append("matched_forgetting")
        for name in new:
            self.steps[name] = int(step)
        return new

    @property
    def complete(self) -> bool:
        """True when both steps are marked."""
        return all(v is not None for v in self.steps.values())


def load_probes(run_dir, columns: Sequence[str] | None = None):
    """A run's ``probes.jsonl`` as a DataFrame (one row per probed step, sorted by step); ``columns`` keeps only
    those (plus ``step``)."""
    from pathlib import Path

    import pandas as pd

    from ..runs import read_jsonl

    path = Path(run_dir) / PROBES_FILE
    if not path.exists():
        raise ValueError(f"{str(path)!r} does not exist: the run was not probed (ProbeCallback)")
    rows = read_jsonl(path)
    df = pd.DataFrame(rows)
    if columns is not None:
        df = df[["step", *[c for c in columns if c != "step"]]]
    return df.sort_values("step", kind="stable").reset_index(drop=True) if len(df) else df
