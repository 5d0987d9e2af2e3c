"""Greedy decoding for evaluation: a key/value-cache loop, and the greedy tokens a scoring pass already holds.

TOFU's ROUGE reads the model's greedy answer to each question. Two things make it cheap:

* **a lean decoding loop** (:func:`greedy_generate`): the prompts are left-padded and run once with the positions
  a right-padded pass would give them (``cumsum(mask) − 1``, as ``model.generate`` does), then each step feeds
  the argmax tokens back with the growing key/value cache. Rows that are done (EOS, or ``max_new_tokens``) leave
  the batch, and nothing else runs per step (no logits processors, no stopping-criteria objects).
* **drafts verified by the scoring pass** (:func:`draft_prefix`): scoring an answer computes, at every answer
  position, the model's distribution given the prompt and the answer's preceding tokens. While the argmax there
  equals the answer's token, it is exactly the token greedy decoding emits (same context), so the greedy answer
  is known up to and including the first disagreement, and decoding starts there. A memorised answer costs no
  decoding step at all. This is speculative decoding (Leviathan, Kalman and Matias 2023, "Fast Inference from
  Transformers via Speculative Decoding", ICML) with the reference answers as the draft and greedy acceptance.

The result equals ``model.generate(do_sample=False, num_beams=1)``'s new tokens up to the first EOS (float
rounding aside: batch composition changes the last bits of the logits, for ``generate`` as well).
:func:`greedy_generate_reference` runs ``model.generate`` itself; models whose forward takes no key/value cache use
it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence

import torch

from .kvcache import cache_keyword, left_padded, prefill
from .scoring import eval_mode, model_device

__all__ = ["draft_prefix", "greedy_generate", "greedy_generate_reference"]


def _eos_set(eos_token_id) -> set[int]:
    ids = [eos_token_id] if isinstance(eos_token_id, int) else list(eos_token_id or [])
    if not ids:
        raise ValueError("eos_token_id must be a token id or a non-empty list of ids")
    return {int(i) for i in ids}


def draft_prefix(drafts: Iterable[tuple[Sequence[int], Sequence[int]]], eos_token_id) -> tuple[list[int], bool]:
    """The start of the greedy answer that scored drafts determine.

    ``drafts``: ``(targets, argmaxes)`` pairs of one prompt (an answer's target ids, EOS last, and the model's
    argmax at each of its positions: :attr:`npo_lab.scoring.Scores.greedy_ids`). A draft determines its argmaxes
    up to and including the first that differs from its target (or is EOS). Returns ``(tokens, finished)``: the
    longest determined prefix (EOS not included) and whether greedy decoding stops after it.
    """
    eos = _eos_set(eos_token_id)
    best: list[int] = []
    for targets, argmaxes in drafts:
        tokens: list[int] = []
        argmaxes = argmaxes.tolist() if hasattr(argmaxes, "tolist") else argmaxes
        for t, g in zip(targets, argmaxes):
            g = int(g)
            if g in eos:
                return tokens, True
            tokens.append(g)
            if g != int(t):
                break
        if len(tokens) > len(best):
            best = tokens
    return best, False


def _decode_batch(model, seqs, budgets, *, eos, pad_id, dev, keyword, context) -> list[list[int]]:
    """Greedy continuation of left-padded ``seqs``, row ``r`` for at most ``budgets[r]`` tokens, EOS excluded."""
    ids, mask = left_padded(seqs, pad_id)
    ids, mask = ids.to(dev), mask.to(dev)
    logits, cache = prefill(model, ids, mask, keyword=keyword, context=context)
    pos = mask.sum(-1) - 1
    nxt = logits.argmax(dim=-1)
    out: list[list[int]] = [[] for _ in seqs]
    rows = list(range(len(seqs)))  # the batch row of each live tensor row
    while True:
        keep = []
        for j, (r, t) in enumerate(zip(rows, nxt.tolist())):  # one transfer per step: is everyone done?
            if t in eos:
                continue
            out[r].append(t)
            if len(out[r]) < budgets[r]:
                keep.append(j)
        if not keep:
            return out
        if len(keep) < len(rows):  # finished rows leave the batch
            sel = torch.tensor(keep, dtype=torch.long, device=dev)
            cache.batch_select_indices(sel)
            mask, pos, nxt = mask.index_select(0, sel), pos.index_select(0, sel), nxt.index_select(0, sel)
            rows = [rows[j] for j in keep]
        pos = pos + 1
        mask = torch.cat([mask, mask.new_ones(len(rows), 1)], dim=1)
        with context() if context is not None else contextlib.nullcontext():
            step = model(
                input_ids=nxt.unsqueeze(1),
                attention_mask=mask,
                position_ids=pos.unsqueeze(1),
                use_cache=True,
                **{keyword: cache},
            )
        nxt = step.logits[:, -1].argmax(dim=-1)


def _settings(max_new_tokens, eos_token_id, pad_token_id=None, batch_size=64) -> tuple[int, int, set[int], int]:
    """The checked settings of greedy decoding: ``(max_new_tokens, batch_size, EOS ids, pad id)``; the pad id is
    the smallest EOS id when none is given."""
    for name, value in (("max_new_tokens", max_new_tokens), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    eos = _eos_set(eos_token_id)
    return int(max_new_tokens), int(batch_size), eos, int(pad_token_id) if pad_token_id is not None else min(eos)


def greedy_generate(
    model,
    prompts: Sequence[Sequence[int]],
    *,
    max_new_tokens: int,
    eos_token_id,
    pad_token_id: int | None = None,
    batch_size: int = 64,
    device=None,
    context=None,
    prefixes: Sequence[tuple[Sequence[int], bool]] | None = None,
    progress_bar=None,
) -> list[list[int]]:
    """Greedy continuations of token-id ``prompts``: the new tokens up to (not including) the first EOS, at most
    ``max_new_tokens``.

    ``prefixes``: per prompt, ``(tokens, finished)`` already known to start its greedy answer
    (:func:`draft_prefix`); decoding continues after them. Prompts are decoded in batches of ``batch_size``, in
    order of length. The model is in eval mode under :func:`torch.inference_mode` meanwhile (its mode restored).
    """
    settings = dict(max_new_tokens=max_new_tokens, eos_token_id=eos_token_id, pad_token_id=pad_token_id)
    max_new_tokens, batch_size, eos, pad_id = _settings(batch_size=batch_size, **settings)
    if prefixes is not None and len(prefixes) != len(prompts):
        raise ValueError(f"prefixes must have one entry per prompt ({len(prompts)}), got {len(prefixes)}")
    keyword = cache_keyword(model)
    if keyword is None:
        return greedy_generate_reference(
            model, prompts, batch_size=batch_size, device=device, progress_bar=progress_bar, **settings
        )
    out: list[list[int]] = []
    todo = []
    for i in range(len(prompts)):
        tokens, finished = prefixes[i] if prefixes is not None else ([], False)
        out.append([int(t) for t in tokens][:max_new_tokens])
        if not finished and len(out[i]) < max_new_tokens:
            todo.append(i)
    if progress_bar is not None:
        progress_bar.update(len(prompts) - len(todo))
    dev = model_device(model, device)
    todo.sort(key=lambda i: len(prompts[i]) + len(out[i]))
    with eval_mode(model), torch.inference_mode():
        for start in range(0, len(todo), batch_size):
            idx = todo[start : start + batch_size]
            new = _decode_batch(
                model,
                [list(prompts[i]) + out[i] for i in idx],
                [max_new_tokens - len(out[i]) for i in idx],
                eos=eos,
                pad_id=pad_id,
                dev=dev,
                keyword=keyword,
                context=context,
            )
            for i, tokens in zip(idx, new):
                out[i] += tokens
            if progress_bar is not None:
                progress_bar.update(len(idx))
    return out


def greedy_generate_reference(
    model, prompts: Sequence[Sequence[int]], *, device=None, progress_bar=None, **settings
) -> list[list[int]]:
    """:func:`greedy_generate` through ``model.generate(do_sample=False, num_beams=1)``: prompts left-padded in
    batches (in order of length), the new tokens up to the first EOS. ``settings``: ``max_new_tokens``,
    ``eos_token_id``, ``pad_token_id`` and ``batch_size``, as :func:`greedy_generate` takes them. The reference
    the fast loop is tested against."""
    max_new_tokens, batch_size, eos, pad_id = _settings(**settings)
    dev = model_device(model, device)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    out: list[list[int]] = [[] for _ in prompts]
    with eval_mode(model), torch.no_grad():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            ids, mask = left_padded([prompts[i] for i in idx], pad_id)
            gen = model.generate(
                input_ids=ids.to(dev),
                attention_mask=mask.to(dev),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                num_beams=1,
                pad_token_id=pad_id,
                eos_token_id=settings["eos_token_id"],
            )
            for i, row in zip(idx, gen[:, ids.shape[1] :].tolist()):
                cut = next((j for j, t in enumerate(row) if t in eos), len(row))
                out[i] = row[:cut]
            if progress_bar is not None:
                progress_bar.update(len(idx))
    return out
