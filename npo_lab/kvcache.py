"""Continuing a causal LM from a key/value cache: the few calls that shared-prompt scoring
(:func:`npo_lab.scoring.score_answers`) and greedy decoding (:func:`npo_lab.generation.greedy_generate`) make.

Prompts are left-padded, so every prompt ends at the last position and new tokens append to all rows alike; the
positions are those a right-padded pass gives the same tokens (``cumsum(mask) − 1``), so the numbers match a plain
forward of prompt + continuation. Works with ``transformers`` causal LMs (and PEFT wrappers of them) whose forward
takes ``attention_mask``, ``position_ids`` and a cache (``cache``, or ``past_key_values`` before ``transformers``
5.x); :func:`cache_keyword` says which, or ``None`` (then the callers use the plain passes).
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Sequence

import torch

__all__ = ["cache_keyword", "accepts_logits_to_keep", "left_padded", "prefill"]


def cache_keyword(model) -> str | None:
    """The keyword under which ``model``'s forward takes a key/value cache (``"cache"`` in recent
    ``transformers``, ``"past_key_values"`` before), or ``None`` when the forward cannot continue from a cache
    with explicit ``position_ids`` and ``attention_mask`` (then the callers use the plain full-sequence passes)."""
    config = getattr(model, "config", None)
    if config is None or getattr(config, "is_encoder_decoder", False):
        return None
    base = model.get_base_model() if callable(getattr(model, "get_base_model", None)) else model  # PEFT
    try:
        params = inspect.signature(base.forward).parameters
    except (TypeError, ValueError):
        return None
    if "position_ids" not in params or "attention_mask" not in params:
        return None
    return next((name for name in ("cache", "past_key_values") if name in params), None)


def accepts_logits_to_keep(model) -> bool:
    """Whether ``model``'s forward can skip the vocabulary projection except at the last position."""
    base = model.get_base_model() if callable(getattr(model, "get_base_model", None)) else model
    try:
        return "logits_to_keep" in inspect.signature(base.forward).parameters
    except (TypeError, ValueError):
        return False


def left_padded(seqs: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input_ids, attention_mask)`` of ``seqs`` left-padded to the longest (so every sequence ends at the last
    position), on the CPU."""
    width = max(len(s) for s in seqs)
    ids = torch.tensor([[pad_id] * (width - len(s)) + list(s) for s in seqs], dtype=torch.long)
    mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in seqs], dtype=torch.long)
    return ids, mask


def prefill(model, ids: torch.Tensor, mask: torch.Tensor, *, keyword: str, context=None):
    """Forward of left-padded prompts with the positions a right-padded pass would give them
    (``cumsum(mask) − 1``), keeping the key/value cache. Returns ``(last-position logits (B, V), cache)``."""
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    kwargs = {"logits_to_keep": 1} if accepts_logits_to_keep(model) else {}
    with context() if context is not None else contextlib.nullcontext():
        out = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, **kwargs)
    return out.logits[:, -1], getattr(out, keyword)
