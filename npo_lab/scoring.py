"""Score answers under a model: per-row summed answer log-prob and answer-token count.

The one place where (question, answer) rows meet a model outside training: the reference cache of unlearning,
evaluation, mini-TOFU's answer probability and the forget KL all go through :func:`iter_forward` /
:func:`score_answers`. Rows are encoded exactly as in training (:func:`npo_lab.tofu.data.encode_qa`: prompt
masked with -100, answer + EOS as targets), so a score here equals the one the training step computes:

``logp = log π(y|x) = Σ_t log π(y_t | y_<t, x)`` over the answer tokens (paper arXiv 2404.05868, Sec. 2),
``n_tokens = |y|``; the TOFU probability of an answer is ``exp(logp / n_tokens)``.

Every pass runs in eval mode without gradients, in batches, on the model's device, and restores the model's
train/eval mode afterwards.
"""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import torch

from .losses import sequence_logprob, token_count

__all__ = ["Scores", "score_answers", "iter_forward", "model_device"]


@dataclass(frozen=True)
class Scores:
    """What :func:`score_answers` returns, on the CPU.

    ``logp``: ``(N,)`` float32, summed answer log-prob per row; ``n_tokens``: ``(N,)`` long, answer tokens per row
    (EOS included); ``token_logps``: ``N`` 1-D float32 tensors of per-token answer log-probs, or ``None``.
    """

    logp: torch.Tensor
    n_tokens: torch.Tensor
    token_logps: list[torch.Tensor] | None = None

    def probability(self) -> torch.Tensor:
        """TOFU's length-normalised probability ``exp(logp / n_tokens)``, shape ``(N,)``."""
        return torch.exp(self.logp / self.n_tokens.clamp(min=1))


def model_device(model) -> torch.device:
    """The device of the model's input embeddings (where its input ids must go)."""
    try:
        return model.get_input_embeddings().weight.device
    except (AttributeError, NotImplementedError):
        return next(model.parameters()).device


def _size(value, name: str, minimum: int) -> int:
    """An integer setting (``2.0`` is 2; ``2.5``, NaN, ``True`` or a string are refused, naming ``name``)."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and float(value).is_integer()
    if not ok or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _as_rows(rows) -> list[Mapping]:
    if hasattr(rows, "to_dict") and hasattr(rows, "columns") and not hasattr(rows, "features"):  # DataFrame
        rows = rows.to_dict("records")
    if isinstance(rows, (str, bytes, Mapping)) or not hasattr(rows, "__iter__"):
        raise ValueError(f"rows must be a list of mappings (or a Dataset / DataFrame), got {type(rows).__name__}")
    rows = list(rows)
    if not rows:
        raise ValueError("rows is empty: give at least one row with a question and an answer")
    return rows


def _encode(tokenizer, rows, *, template, max_length, question_key, answer_key) -> list[dict]:
    from .prompts import encode_qa

    feats = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping) or question_key not in row or answer_key not in row:
            raise ValueError(f"rows[{i}] must be a mapping with {question_key!r} and {answer_key!r}; got {row!r:.120}")
        feats.append(encode_qa(tokenizer, str(row[question_key]), str(row[answer_key]), template, max_length))
    return feats


def iter_forward(
    model,
    tokenizer,
    rows,
    *,
    template="qa",
    max_length: int = 256,
    batch_size: int = 16,
    question_key: str = "question",
    answer_key: str = "answer",
    device=None,
    context: Callable[[], contextlib.AbstractContextManager] | None = None,
) -> Iterator[tuple[dict[str, torch.Tensor], torch.Tensor]]:
    """Batched no-grad forward passes over ``rows``, in order.

    Yields ``(batch, logits)``: ``batch`` has ``input_ids``, ``attention_mask``, ``labels`` of shape ``(b, T)``
    (right-padded, on the device), ``logits`` is ``(b, T, V)``. ``context``: a callable returning a context
    manager entered around each forward (e.g. a Trainer's autocast). The model is in eval mode while the
    generator runs; its mode is restored when the generator is exhausted or closed.
    """
    from .prompts import pad_batch

    batch_size = _size(batch_size, "batch_size", 1)
    max_length = _size(max_length, "max_length", 2)
    rows = _as_rows(rows)
    feats = _encode(
        tokenizer, rows, template=template, max_length=max_length, question_key=question_key, answer_key=answer_key
    )
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    dev = torch.device(device) if device is not None else model_device(model)
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(feats), batch_size):
            batch = {k: v.to(dev) for k, v in pad_batch(feats[start : start + batch_size], pad_id).items()}
            with torch.no_grad(), context() if context is not None else contextlib.nullcontext():
                logits = model(
                    input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False
                ).logits
            yield batch, logits
    finally:
        model.train(was_training)


def _token_logps(logits: torch.Tensor, labels: torch.Tensor) -> list[torch.Tensor]:
    """Per-row 1-D tensors of the answer tokens' log-probs (the terms that :func:`sequence_logprob` sums)."""
    lp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    target = labels[:, 1:]
    keep = target != -100
    tok = lp.gather(-1, target.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return [tok[i][keep[i]].cpu() for i in range(tok.shape[0])]


def score_answers(
    model,
    tokenizer,
    rows,
    *,
    template="qa",
    max_length: int = 256,
    batch_size: int = 16,
    question_key: str = "question",
    answer_key: str = "answer",
    device=None,
    context: Callable[[], contextlib.AbstractContextManager] | None = None,
    token_logps: bool = False,
) -> Scores:
    """Summed answer log-prob and answer-token count of every row under ``model``.

    Args:
        rows: mappings (list, ``datasets.Dataset`` or DataFrame) with ``question_key`` and ``answer_key``.
        template, max_length: encoding as in training (:func:`npo_lab.tofu.data.encode_qa`).
        device: where the batches go (default: the model's input-embedding device).
        context: callable returning a context manager around each forward (e.g. autocast).
        token_logps: also return the per-token answer log-probs of every row.
    Returns:
        :class:`Scores` with ``logp (N,)`` float32 and ``n_tokens (N,)`` long, on the CPU.
    """
    logps, counts, tokens = [], [], []
    for batch, logits in iter_forward(
        model,
        tokenizer,
        rows,
        template=template,
        max_length=max_length,
        batch_size=batch_size,
        question_key=question_key,
        answer_key=answer_key,
        device=device,
        context=context,
    ):
        logps.append(sequence_logprob(logits, batch["labels"]).float().cpu())
        counts.append(token_count(batch["labels"]).cpu())
        if token_logps:
            tokens.extend(_token_logps(logits, batch["labels"]))
    return Scores(torch.cat(logps), torch.cat(counts).long(), tokens if token_logps else None)
