"""From logits to per-sequence log-probs: the inputs of every objective in :mod:`npo_lab.losses`.

* :func:`sequence_logprob` — ``logp = Σ_t log π_θ(y_t | y_<t, x)`` over the answer tokens (causal shift, prompt and
  padding masked with ``ignore_index``);
* :func:`token_count` — ``|y|``, the number of answer tokens per sequence;
* :func:`kl_to_ref` — the per-sequence token-mean ``KL(π_ref ‖ π_θ)`` of the "+KL" retain term.

These functions are re-exported by :mod:`npo_lab.losses` (``from npo_lab.losses import sequence_logprob`` keeps
working).

It also holds what the loss terms' closed-form derivatives (``Term.grad`` in :mod:`npo_lab.losses`) share:
:func:`sigmoid` and :func:`per_token` accept torch tensors, NumPy arrays and floats, and
:func:`autograd_derivative` differentiates a term that has no closed form.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

__all__ = ["sequence_logprob", "token_count", "kl_to_ref", "sigmoid", "per_token", "autograd_derivative"]


def _shifted_labels(logits: Tensor, labels: Tensor, ignore_index: int, validate: bool) -> tuple[Tensor, Tensor]:
    """``(labels[:, 1:], mask of answer tokens)`` after checking shapes, dtype and (``validate``) ids and masks."""
    if logits.dim() != 3:
        raise ValueError(f"logits must have shape (B, T, V), got shape {tuple(logits.shape)}")
    if labels.shape != logits.shape[:2]:
        raise ValueError(f"labels must have shape (B, T) = {tuple(logits.shape[:2])}, got {tuple(labels.shape)}")
    if labels.dtype.is_floating_point or labels.dtype == torch.bool or labels.dtype.is_complex:
        raise ValueError(f"labels must be an integer tensor of token ids, got dtype {labels.dtype}")
    shift_labels = labels[:, 1:]
    mask = shift_labels != ignore_index
    if validate:
        if logits.shape[0] == 0:
            raise ValueError("logits is empty (batch of 0 sequences)")
        v = logits.shape[-1]
        if (shift_labels[mask] < 0).any() or (shift_labels[mask] >= v).any():
            raise ValueError(f"labels must be token ids in [0, {v}) or ignore_index={ignore_index}")
        if (mask.sum(dim=-1) == 0).any():
            raise ValueError("a sequence has no answer tokens (all labels masked); it has no log-probability")
    return shift_labels, mask


def _check_result(x: Tensor, what: str, validate: bool) -> Tensor:
    if validate and not torch.isfinite(x).all():
        raise ValueError(f"{what} is not finite for sequence(s) {torch.nonzero(~torch.isfinite(x))[:8, 0].tolist()}")
    return x


def sequence_logprob(logits: Tensor, labels: Tensor, ignore_index: int = -100, *, validate: bool = True) -> Tensor:
    """Sum of the label tokens' log-probs per sequence: ``logp = Σ_t log π_θ(y_t | y_<t, x)``.

    Causal shift: the logits at position ``t`` predict ``labels[t + 1]``; positions whose shifted label is
    ``ignore_index`` (prompt, padding) contribute nothing. Half-precision logits are upcast to float32; float32 and
    float64 keep their precision. ``validate`` checks label dtype and range, that every sequence has at least one
    answer token and that the result is finite (NaN logits, a target of zero probability) — host syncs: trainers
    pass ``validate=False`` and check their batches when they build them.

    Shapes: ``logits (B, T, V)``, ``labels (B, T)`` integer -> ``(B,)``.
    """
    shift_labels, mask = _shifted_labels(logits, labels, ignore_index, validate)
    dtype = logits.dtype if logits.dtype == torch.float64 else torch.float32
    logprobs = torch.log_softmax(logits[:, :-1, :].to(dtype), dim=-1)
    tok = logprobs.gather(-1, shift_labels.masked_fill(~mask, 0).unsqueeze(-1)).squeeze(-1)
    return _check_result((tok * mask).sum(dim=-1), "the answer log-prob (sequence_logprob)", validate)


def token_count(labels: Tensor, ignore_index: int = -100) -> Tensor:
    """Number of label tokens per sequence after the causal shift: ``|y|``. ``(B, T) -> (B,)`` long."""
    return (labels[:, 1:] != ignore_index).sum(dim=-1)


def kl_to_ref(
    logits: Tensor, ref_logits: Tensor, labels: Tensor, ignore_index: int = -100, *, validate: bool = True
) -> Tensor:
    """Per-sequence mean over **answer tokens** of ``KL(π_ref(·|prefix) ‖ π_θ(·|prefix))`` (the "+KL" term).

    ``KL_t = Σ_v π_ref(v) · (log π_ref(v) − log π_θ(v))``, with ``0 · log 0 = 0`` (tokens the reference gives zero
    probability contribute nothing), at every position whose shifted label is not ``ignore_index``; the result is
    ``Σ_t KL_t / |y|``. The reference code averages over prompt and padding positions too; averaging over answer
    tokens keeps the value independent of padding. ``validate``: as in :func:`sequence_logprob` (host syncs).

    Shapes: ``logits (B, T, V)``, ``ref_logits (B, T, V)``, ``labels (B, T)`` -> ``(B,)``.
    """
    if logits.shape != ref_logits.shape:
        raise ValueError(f"ref_logits has shape {tuple(ref_logits.shape)} but logits has {tuple(logits.shape)}")
    mask = _shifted_labels(logits, labels, ignore_index, validate)[1].to(torch.float32)
    logq = torch.log_softmax(logits[:, :-1, :].float(), dim=-1)
    logr = torch.log_softmax(ref_logits[:, :-1, :].float(), dim=-1)
    p_ref = logr.exp()
    kl_tok = torch.where(p_ref > 0, p_ref * (logr - logq), torch.zeros_like(p_ref)).sum(dim=-1)
    kl = (kl_tok * mask).sum(dim=-1) / mask.sum(dim=-1).clamp_min(1.0)
    return _check_result(kl, "KL(π_ref ‖ π_θ) (kl_to_ref; NaN logits, or θ gives 0 where π_ref does not)", validate)


# --------------------------------------------------------------------------------------------------------------
# derivatives with respect to per-sequence log-probs (shared by the terms of npo_lab.losses)
# --------------------------------------------------------------------------------------------------------------
def autograd_derivative(term, args: list, kw: dict) -> dict:
    """The fallback: autograd of ``Σ_i term_i`` w.r.t. the moving inputs, on the library's ``(B,)`` layout (NumPy
    inputs and per-row hyper-parameters are broadcast, flattened to float64 tensors and shaped back)."""
    tensors = isinstance(args[0], Tensor)
    conv = [a if isinstance(a, Tensor) else torch.tensor(np.asarray(a, dtype=np.float64)) for a in args]
    shape = torch.broadcast_shapes(*(a.shape for a in conv))
    flat = [a.expand(shape).reshape(-1) for a in conv]
    kw = {
        k: v.expand(shape).reshape(-1) if isinstance(v, Tensor) and v.dim() else v
        for k, v in ((k, torch.as_tensor(v) if isinstance(v, np.ndarray) else v) for k, v in kw.items())
    }
    idx = [i for i, n in enumerate(term.inputs) if n in term.moving]
    with torch.enable_grad():
        for i in idx:
            flat[i] = flat[i].detach().requires_grad_(True)
        grads = torch.autograd.grad(term.fn(*flat, **kw).sum(), [flat[i] for i in idx], allow_unused=True)
    out = {}
    for i, g in zip(idx, grads):
        g = torch.zeros_like(flat[i]) if g is None else g
        out[term.inputs[i]] = g.reshape(shape) if tensors else g.reshape(shape).numpy()
    return out


_EXPIT = None


def sigmoid(x):
    """σ(x) of a torch tensor, a NumPy array or a float, accurate in both tails (closed-form derivatives)."""
    global _EXPIT
    if isinstance(x, Tensor):
        return torch.sigmoid(x)
    if isinstance(x, float):
        return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))
    if _EXPIT is None:
        from scipy.special import expit as _EXPIT
    return _EXPIT(x)


def per_token(n_tokens, like):
    """``∂(x_i · B / Σ_j n_j)/∂x_i = B / Σ_j n_j`` per batch (the last axis; leading axes — the theory's heads — are
    separate batches). A number ``n_tokens`` means every example has that many tokens: ``1 / n``."""
    if isinstance(n_tokens, (int, float)):
        return 1.0 / n_tokens
    if isinstance(like, Tensor):
        return like.shape[-1] / n_tokens.sum(-1, keepdim=True).to(like.dtype)
    return like.shape[-1] / np.sum(n_tokens, axis=-1, keepdims=True)
