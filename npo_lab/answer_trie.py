"""Scoring the answers of a question in one pass: its prompt followed by the prefix tree (trie) of its answers.

TOFU scores ``2 + K`` answers per question (the answer, a paraphrase, K perturbed answers), and they often begin
alike ("The author's name is ..."). Causal attention makes a token's states depend on what precedes it only, so
answers that share a prefix share that prefix's states and logits. One forward pass per group of questions
computes each distinct answer prefix once:

* a row of the batch holds a prompt, then the nodes of its answers' trie, one token each (the node of the prefix
  ``y_<j`` holds the token ``y_{j−1}`` at position ``|prompt| + j − 1``, as in a plain pass), then padding;
* a 4-D attention mask lets each node see the prompt and its ancestors in the trie (itself included), and nothing
  else, so its states are those of the plain pass over ``prompt + y_<j``;
* the logits of the last prompt position and of each node give ``log π(y_j | y_<j, x)`` to every answer through
  that node, after one log-softmax per node.

The numbers are those of :func:`npo_lab.scoring.score_answers_reference` up to float rounding. On the mini-TOFU
evaluation the trie holds 21 % fewer answer tokens than the answers, and the prompts run once per question.
Used by :func:`npo_lab.scoring.score_answers` for ``transformers`` models whose attention takes such a mask
(:func:`takes_tree_mask`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import numpy as np
import torch

from .kvcache import accepts_logits_to_keep, cache_keyword

__all__ = ["answer_trie", "takes_tree_mask", "score_trie_pass"]

#: attention implementations that apply an arbitrary 4-D boolean mask (flash attention takes padding masks only)
TREE_ATTENTION = ("sdpa", "eager")


def takes_tree_mask(model) -> bool:
    """Whether ``model`` (a ``transformers`` causal LM, or a PEFT wrapper of one) applies a custom 4-D attention
    mask with explicit positions: its forward takes a key/value cache keyword (a recent decoder), and its
    attention implementation is one of :data:`TREE_ATTENTION`."""
    if cache_keyword(model) is None:
        return False
    config = getattr(model, "config", None)
    return getattr(config, "_attn_implementation", None) in TREE_ATTENTION


def answer_trie(targets: Sequence[Sequence[int]]) -> tuple[list[int], list[int], list[int], list[list[int]]]:
    """The trie of the answers' input tokens (every target but the last, which is only predicted).

    Returns ``(tokens, parents, depths, nodes_of)``: node ``k`` holds ``tokens[k]`` at depth ``depths[k]`` (0 right
    after the prompt) below ``parents[k]`` (−1: the prompt); ``nodes_of[r][j − 1]`` is the node of row ``r``'s
    prefix ``targets[r][:j]``. Parents come before their children."""
    index: dict[tuple, int] = {}
    tokens, parents, depths, nodes_of = [], [], [], []
    for t in targets:
        mine, parent = [], -1
        for j in range(1, len(t)):
            key = (parent, t[j - 1])
            k = index.get(key)
            if k is None:
                k = index[key] = len(tokens)
                tokens.append(int(t[j - 1]))
                parents.append(parent)
                depths.append(j - 1)
            mine.append(k)
            parent = k
        nodes_of.append(mine)
    return tokens, parents, depths, nodes_of


def _ancestors(parents: list[int], width: int) -> np.ndarray:
    """``(width, width)`` boolean: node ``i`` sees node ``k`` when ``k`` is ``i`` or an ancestor of it."""
    anc = np.zeros((width, width), dtype=bool)
    for i, parent in enumerate(parents):
        if parent >= 0:
            anc[i] = anc[parent]
        anc[i, i] = True
    return anc


def _inputs(prompts, tries, pad_id: int):
    """``input_ids``, ``position_ids`` ``(B, L)`` and the 4-D mask ``(B, 1, L, L)`` of a pass: each row is its
    prompt, then its trie's nodes, then padding (``L`` the longest row)."""
    length = max(len(x) + len(t[0]) for x, t in zip(prompts, tries))
    b = len(prompts)
    ids = torch.full((b, length), pad_id, dtype=torch.long)
    pos = torch.zeros((b, length), dtype=torch.long)
    mask = torch.zeros((b, 1, length, length), dtype=torch.bool)
    causal = torch.ones(length, length, dtype=torch.bool).tril()
    for i, (prompt, (tokens, parents, depths, _)) in enumerate(zip(prompts, tries)):
        p, n = len(prompt), len(tokens)
        ids[i, :p] = torch.tensor(prompt, dtype=torch.long)
        ids[i, p : p + n] = torch.tensor(tokens, dtype=torch.long)
        pos[i, : p + n] = torch.cat([torch.arange(p), p + torch.tensor(depths, dtype=torch.long)])
        mask[i, 0, : p + n, :p] = causal[: p + n, :p]  # the prompt causally, and all of it from every node
        mask[i, 0, p : p + n, p : p + n] = torch.from_numpy(_ancestors(parents, n))
        pad = torch.arange(p + n, length)
        mask[i, 0, pad, pad] = True  # padding sees itself only (a row with no key would give NaN)
    return ids, pos, mask


def score_trie_pass(
    model, prompts, tries, targets, *, pad_id: int, dev, context=None, greedy: bool = False
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One forward pass for ``prompts`` (token lists), each followed by the trie (:func:`answer_trie`) of its
    answers ``targets`` (per prompt, its answers' target token lists). Returns ``(token log-probs (R, A), argmaxes
    (R, A) or None)`` for the ``R`` answers in order (log-probs 0 and argmaxes −1 past an answer's end)."""
    ids, pos, mask = _inputs(prompts, tries, pad_id)
    if getattr(model.config, "_attn_implementation", None) == "eager":  # eager attention adds its mask to the scores
        dtype = getattr(model, "dtype", torch.float32)
        mask = torch.zeros(mask.shape, dtype=dtype).masked_fill_(~mask, torch.finfo(dtype).min)
    first = min(len(x) for x in prompts) - 1  # no logits are read before the shortest prompt's last position
    kwargs = {"logits_to_keep": torch.arange(first, ids.shape[1])} if accepts_logits_to_keep(model) else {}
    with context() if context is not None else contextlib.nullcontext():
        out = model(
            input_ids=ids.to(dev), attention_mask=mask.to(dev), position_ids=pos.to(dev), use_cache=False, **kwargs
        )
    logits = out.logits if kwargs else out.logits[:, first:]
    keep = logits.shape[1]
    # one log-softmax per kept position (the few padding positions among them cost less than copying the others
    # out), then each answer's targets read at its prompt's last position and along its nodes
    starts = [i * keep + len(x) - 1 - first for i, x in enumerate(prompts)]
    width = max(len(y) for g in targets for y in g)
    read, tgt, valid = [], [], []
    for start, answers, trie in zip(starts, targets, tries):
        for y, nodes in zip(answers, trie[3]):
            pad = width - len(y)
            read += [start] + [start + 1 + k for k in nodes] + [start] * pad
            tgt += list(y) + [0] * pad
            valid += [True] * len(y) + [False] * pad
    z = logits.reshape(-1, logits.shape[-1])
    z = z if z.dtype == torch.float64 else z.float()  # as sequence_logprob: float32 at least
    lp = torch.log_softmax(z, dim=-1)
    read_t = torch.tensor(read, dtype=torch.long, device=dev)
    invalid = ~torch.tensor(valid, dtype=torch.bool, device=dev)
    tok = lp[read_t, torch.tensor(tgt, dtype=torch.long, device=dev)].masked_fill(invalid, 0.0).view(-1, width)
    arg = None
    if greedy:
        arg = z.argmax(dim=-1).index_select(0, read_t).masked_fill(invalid, -1).view(-1, width)
    return tok, arg
