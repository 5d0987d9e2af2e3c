"""Score answers under a model: per-row summed answer log-prob and answer-token count.

The one place where (question, answer) rows meet a model outside training: the reference cache of unlearning,
evaluation, mini-TOFU's answer probability and the forget KL all go through :func:`iter_forward` /
:func:`score_answers`. Rows are encoded exactly as in training (:func:`npo_lab.tofu.data.encode_qa`: prompt
masked with -100, answer + EOS as targets), so a score here equals the one the training step computes:

``logp = log π(y|x) = Σ_t log π(y_t | y_<t, x)`` over the answer tokens (paper arXiv 2404.05868, Sec. 2),
``n_tokens = |y|``; the TOFU probability of an answer is ``exp(logp / n_tokens)``.

How :func:`score_answers` spends the model's time (the numbers are those of the full-sequence pass,
:func:`score_answers_reference`, up to float rounding):

* **one prompt, many answers.** Rows that share a question (TOFU scores ``2 + K`` answers per question) share one
  run of the prompt, and answers that begin alike share the states of their common prefix: each question's prompt
  and the trie of its answers run as one sequence under a 4-D attention mask (:mod:`npo_lab.answer_trie`; causal
  attention makes a token's states independent of what follows it). Where the attention takes no such mask
  (flash attention), the prompt runs once and its key/value cache is copied to every answer, whose tokens then
  run through the model after it;
* **little padding.** Questions are taken in order of their length, so a batch pads to similar lengths;
* **the vocabulary only where it is needed.** The log-softmax over the vocabulary is taken at the answer positions
  only, not at the prompt and padding positions.

Every pass runs in eval mode under :func:`torch.inference_mode`, in batches, on the model's device, and restores
the model's train/eval mode afterwards. Models whose forward takes no key/value cache fall back to the
full-sequence pass.
"""

from __future__ import annotations

import contextlib
import copy
import numbers
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .answer_trie import answer_trie, score_trie_pass, takes_tree_mask
from .kvcache import cache_keyword, left_padded, prefill
from .losses import sequence_logprob, token_count

__all__ = [
    "ForwardOptions",
    "Scores",
    "score_answers",
    "score_answers_reference",
    "iter_forward",
    "model_device",
    "eval_mode",
    "encode_prompts",
    "encode_rows",
]


@dataclass(frozen=True)
class Scores:
    """What :func:`score_answers` returns, on the CPU.

    ``logp``: ``(N,)`` float32, summed answer log-prob per row; ``n_tokens``: ``(N,)`` long, answer tokens per row
    (EOS included); ``token_logps``: ``N`` 1-D float32 tensors of per-token answer log-probs, or ``None``;
    ``greedy_ids``: ``N`` 1-D long tensors, the model's most likely token at every answer position (what greedy
    decoding would emit after the prompt and the answer's preceding tokens), or ``None``; ``target_ids`` (with
    ``greedy_ids``): the ``N`` rows' target tokens (answer + EOS) that ``greedy_ids`` and ``token_logps`` align with.
    """

    logp: torch.Tensor
    n_tokens: torch.Tensor
    token_logps: list[torch.Tensor] | None = None
    greedy_ids: list[torch.Tensor] | None = None
    target_ids: list[list[int]] | None = None

    def probability(self) -> torch.Tensor:
        """TOFU's length-normalised probability ``exp(logp / n_tokens)``, shape ``(N,)``."""
        return torch.exp(self.logp / self.n_tokens.clamp(min=1))


def model_device(model, device=None) -> torch.device:
    """Where the model's input ids must go: ``device`` when one is given, else the device of the model's input
    embeddings."""
    if device is not None:
        return torch.device(device)
    try:
        return model.get_input_embeddings().weight.device
    except (AttributeError, NotImplementedError):
        return next(model.parameters()).device


@contextlib.contextmanager
def eval_mode(model) -> Iterator:
    """``model`` in eval mode within the block; its train/eval mode is restored afterwards (also on an error)."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def _size(value, name: str, minimum: int) -> int:
    """An integer setting (``2.0`` is 2; ``2.5``, NaN, ``True`` or a string are refused, naming ``name``)."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and float(value).is_integer()
    if not ok or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class ForwardOptions:
    """How rows go through a model: the keyword arguments of :func:`iter_forward`, :func:`score_answers`,
    :func:`score_answers_reference` and :func:`npo_lab.audit.answer_stats`, declared once.

    ``template``, ``max_length``: encoding as in training (:func:`npo_lab.tofu.data.encode_qa`; ``max_length`` an
    integer >= 2); ``batch_size``: sequences per forward pass (an integer >= 1); ``question_key`` /
    ``answer_key``: the rows' fields; ``device``: where the batches go (default: the model's input-embedding
    device, :func:`model_device`); ``context``: a callable returning a context manager entered around each
    forward (e.g. a Trainer's autocast).
    """

    template: Any = "qa"
    max_length: int = 256
    batch_size: int = 16
    question_key: str = "question"
    answer_key: str = "answer"
    device: Any = None
    context: Callable[[], contextlib.AbstractContextManager] | None = None

    def __post_init__(self):
        object.__setattr__(self, "batch_size", _size(self.batch_size, "batch_size", 1))
        object.__setattr__(self, "max_length", _size(self.max_length, "max_length", 2))

    def encoding(self) -> dict:
        """The fields that say how rows become tokens: the keywords of :func:`encode_rows`."""
        return {k: getattr(self, k) for k in ("template", "max_length", "question_key", "answer_key")}

    def forward_context(self) -> contextlib.AbstractContextManager:
        """A fresh :attr:`context` (a null context without one)."""
        return self.context() if self.context is not None else contextlib.nullcontext()


def _as_rows(rows) -> list[Mapping]:
    if hasattr(rows, "to_dict") and hasattr(rows, "columns") and not hasattr(rows, "features"):  # DataFrame
        rows = rows.to_dict("records")
    if isinstance(rows, (str, bytes, Mapping)) or not hasattr(rows, "__iter__"):
        raise ValueError(f"rows must be a list of mappings (or a Dataset / DataFrame), got {type(rows).__name__}")
    rows = list(rows)
    if not rows:
        raise ValueError("rows is empty: give at least one row with a question and an answer")
    return rows


def _check_rows(rows, question_key: str, answer_key: str) -> None:
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping) or question_key not in row or answer_key not in row:
            raise ValueError(f"rows[{i}] must be a mapping with {question_key!r} and {answer_key!r}; got {row!r:.120}")


def _encode(tokenizer, rows, opts: ForwardOptions) -> list[dict]:
    from .prompts import encode_qa

    _check_rows(rows, opts.question_key, opts.answer_key)
    q, a = opts.question_key, opts.answer_key
    return [encode_qa(tokenizer, str(row[q]), str(row[a]), opts.template, opts.max_length) for row in rows]


def iter_forward(model, tokenizer, rows, **options) -> Iterator[tuple[dict[str, torch.Tensor], torch.Tensor]]:
    """Batched no-grad forward passes over ``rows``, in order; ``options``: the fields of :class:`ForwardOptions`
    (``template``, ``max_length``, ``batch_size``, ``question_key``, ``answer_key``, ``device``, ``context``).

    Yields ``(batch, logits)``: ``batch`` has ``input_ids``, ``attention_mask``, ``labels`` of shape ``(b, T)``
    (right-padded, on the device), ``logits`` is ``(b, T, V)``. ``context``: a callable returning a context
    manager entered around each forward (e.g. a Trainer's autocast). The model is in eval mode while the
    generator runs; its mode is restored when the generator is exhausted or closed.
    """
    from .prompts import pad_batch, pad_token_id

    opts = ForwardOptions(**options)
    rows = _as_rows(rows)
    feats = _encode(tokenizer, rows, opts)
    pad_id = pad_token_id(tokenizer)
    dev = model_device(model, opts.device)
    with eval_mode(model):
        for start in range(0, len(feats), opts.batch_size):
            batch = {k: v.to(dev) for k, v in pad_batch(feats[start : start + opts.batch_size], pad_id).items()}
            with torch.no_grad(), opts.forward_context():
                logits = model(
                    input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False
                ).logits
            yield batch, logits


def _token_logps(logits: torch.Tensor, labels: torch.Tensor) -> list[torch.Tensor]:
    """Per-row 1-D tensors of the answer tokens' log-probs (the terms that :func:`sequence_logprob` sums)."""
    lp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    target = labels[:, 1:]
    keep = target != -100
    tok = lp.gather(-1, target.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return [tok[i][keep[i]].cpu() for i in range(tok.shape[0])]


def score_answers_reference(model, tokenizer, rows, *, token_logps: bool = False, **options) -> Scores:
    """:func:`score_answers` the plain way: every row's prompt + answer in one right-padded forward pass
    (:func:`iter_forward`, which takes the ``options``), a log-softmax at every position,
    :func:`~npo_lab.losses.sequence_logprob`.

    Slower (each prompt runs once per answer; padding and prompt positions go through the vocabulary too); kept as
    the reference that :func:`score_answers` is tested against, and the path of models without a key/value cache.
    """
    logps, counts, tokens = [], [], []
    for batch, logits in iter_forward(model, tokenizer, rows, **options):
        logps.append(sequence_logprob(logits, batch["labels"]).float().cpu())
        counts.append(token_count(batch["labels"]).cpu())
        if token_logps:
            tokens.extend(_token_logps(logits, batch["labels"]))
    return Scores(torch.cat(logps), torch.cat(counts).long(), tokens if token_logps else None)


# --------------------------------------------------------------------------------------------------------------
# shared prompts: one forward of each prompt, its key/value cache copied to every answer
# --------------------------------------------------------------------------------------------------------------
def encode_prompts(tokenizer, questions: Sequence[str], template="qa") -> list[list[int]]:
    """:func:`npo_lab.tofu.data.encode_prompt` of every question, the prompt texts tokenised in one batched call
    (BOS once at the start when the tokenizer adds one)."""
    from .prompts import get_template

    tpl = get_template(template)
    if not questions:
        return []
    ids = tokenizer([tpl.prompt(str(q), tokenizer) for q in questions], add_special_tokens=False)["input_ids"]
    bos = getattr(tokenizer, "bos_token_id", None)
    if bos is not None:
        probe = tokenizer("a", add_special_tokens=True)["input_ids"]
        if not (len(probe) > 0 and probe[0] == bos):
            bos = None
    return [list(x) if bos is None or x[:1] == [bos] else [bos, *x] for x in ids]


def encode_rows(
    tokenizer, rows, *, template="qa", max_length: int = 256, question_key="question", answer_key="answer"
) -> tuple[list[list[int]], list[int], list[list[int]]]:
    """Rows encoded as :func:`npo_lab.tofu.data.encode_qa` does, with each distinct question encoded once.

    Returns ``(prompts, prompt_of_row, targets)``: the distinct prompts' token ids (:func:`encode_prompts`), the
    prompt index of every row, and every row's targets (answer tokens cut to fit ``max_length`` + EOS).
    ``prompts[prompt_of_row[i]] + targets[i]`` is ``encode_qa(...)``'s ``input_ids`` for row ``i``. Answers are
    tokenised in one batched call.
    """
    max_length = _size(max_length, "max_length", 2)
    _check_rows(rows, question_key, answer_key)
    eos = getattr(tokenizer, "eos_token_id", None)
    if eos is None:
        raise ValueError("tokenizer has no eos_token_id; set tokenizer.eos_token before encoding TOFU answers")
    index: dict[str, int] = {}
    prompt_of_row: list[int] = []
    for row in rows:
        prompt_of_row.append(index.setdefault(str(row[question_key]), len(index)))
    prompts = encode_prompts(tokenizer, list(index), template)
    answers = tokenizer([str(row[answer_key]) for row in rows], add_special_tokens=False)["input_ids"]
    targets = []
    for p, ids in zip(prompt_of_row, answers):
        room = max_length - len(prompts[p]) - 1
        if room < 1 and ids:
            raise ValueError(
                f"max_length={max_length} leaves no room for the answer: the prompt alone has {len(prompts[p])} tokens"
            )
        targets.append(list(ids[: max(room, 0)]) + [int(eos)])
    return prompts, prompt_of_row, targets


def split_sorted(lengths: Sequence[int], max_rows: int, overhead: int = 64) -> list[tuple[int, int]]:
    """Cut an ascending list of sequence lengths into contiguous batches of at most ``max_rows``: the cuts that
    minimise the padded tokens ``Σ rows × longest`` plus ``overhead`` tokens per pass (dynamic programming).
    Returns ``[(start, end), ...]``."""
    n = len(lengths)
    best = [0.0] + [float("inf")] * n
    cut = [0] * (n + 1)
    for end in range(1, n + 1):
        width = lengths[end - 1]
        for start in range(max(0, end - max_rows), end):
            cost = best[start] + (end - start) * width + overhead
            if cost < best[end]:
                best[end], cut[end] = cost, start
    spans, end = [], n
    while end > 0:
        spans.append((cut[end], end))
        end = cut[end]
    return spans[::-1]


def _plan(prompts, prompt_of_row, targets, batch_size: int) -> list[tuple[list[int], list[list[int]]]]:
    """The passes: ``[(prompt ids of a prompt pass, [row indices of each answer pass after it]), ...]``.

    Prompts in order of length, at most ``batch_size`` per prompt pass; each pass's answers in order of length, at
    most ``batch_size`` per answer pass; both cut where padding would cost more than another pass."""
    rows_of: dict[int, list[int]] = {}
    for i, p in enumerate(prompt_of_row):
        rows_of.setdefault(p, []).append(i)
    order = sorted(rows_of, key=lambda p: len(prompts[p]))
    # a prompt pass also costs the answer passes it starts: a larger overhead keeps prompt passes few
    per_prompt = max(1, round(len(prompt_of_row) / max(len(rows_of), 1)))
    plan = []
    for a, b in split_sorted([len(prompts[p]) for p in order], batch_size, overhead=64 * per_prompt):
        chunk = order[a:b]
        rows = sorted((i for p in chunk for i in rows_of[p]), key=lambda i: len(targets[i]))
        spans = split_sorted([len(targets[i]) for i in rows], batch_size)
        plan.append((chunk, [rows[c:d] for c, d in spans]))
    return plan


def _logp_argmax(logits: torch.Tensor, target: torch.Tensor, greedy: bool):
    """``log_softmax(logits)[target]`` (and the argmax) of ``(N, V)`` answer-position logits, upcast to float32
    as :func:`~npo_lab.losses.sequence_logprob` does (``z_y − logsumexp(z)`` would lose digits for ``p ≈ 1``)."""
    z = logits if logits.dtype == torch.float64 else logits.float()
    lp = torch.log_softmax(z, dim=-1).gather(-1, target.unsqueeze(-1)).squeeze(-1)
    return lp, (z.argmax(dim=-1) if greedy else None)


def _score_pass(model, prompts, passes, sel_of_row, targets, *, pad_id, dev, keyword, context, greedy):
    """One prompt pass and the answer passes that continue from its cache.

    ``prompts``: the pass's prompts; ``passes``: row indices per answer pass; ``sel_of_row[i]``: row ``i``'s prompt
    (index into ``prompts``). Yields ``(rows, token log-probs (n, A), argmaxes (n, A) or None)`` per answer pass
    (log-probs 0 and argmaxes -1 past a row's end)."""
    ids, pmask = left_padded(prompts, pad_id)
    ids, pmask = ids.to(dev), pmask.to(dev)
    first, prompt_cache = prefill(model, ids, pmask, keyword=keyword, context=context)
    plen = pmask.sum(-1)
    for k, rows in enumerate(passes):
        tgts = [targets[i] for i in rows]
        n, width = len(rows), max(len(t) for t in tgts)
        sel = torch.tensor([sel_of_row[i] for i in rows], dtype=torch.long, device=dev)
        tgt = torch.tensor([list(t) + [0] * (width - len(t)) for t in tgts], dtype=torch.long, device=dev)
        lengths = torch.tensor([len(t) for t in tgts], dtype=torch.long, device=dev)
        lp0, g0 = _logp_argmax(first.index_select(0, sel), tgt[:, 0], greedy)
        tok = lp0.new_zeros(n, width)
        tok[:, 0] = lp0
        arg = torch.full((n, width), -1, dtype=torch.long, device=dev) if greedy else None
        if greedy:
            arg[:, 0] = g0
        if width > 1:  # the answer tokens (all but the last target) run through the model after their prompt
            cache = prompt_cache if k == len(passes) - 1 else copy.deepcopy(prompt_cache)
            cache.batch_select_indices(sel)
            amask = torch.arange(width - 1, device=dev).unsqueeze(0) < (lengths - 1).unsqueeze(1)
            inp = tgt[:, :-1].masked_fill(~amask, pad_id)
            pos = plen.index_select(0, sel).unsqueeze(1) + torch.arange(width - 1, device=dev).unsqueeze(0)
            mask = torch.cat([pmask.index_select(0, sel), amask.long()], dim=1)
            with context() if context is not None else contextlib.nullcontext():
                out = model(input_ids=inp, attention_mask=mask, position_ids=pos, use_cache=True, **{keyword: cache})
            # the answer positions, as flat indices built on the host (a boolean mask would wait for the device)
            flat = [r * (width - 1) + j for r, t in enumerate(tgts) for j in range(len(t) - 1)]
            flat = torch.tensor(flat, dtype=torch.long, device=dev)
            logits = out.logits.reshape(n * (width - 1), -1).index_select(0, flat)
            lp, g = _logp_argmax(logits, tgt[:, 1:].reshape(-1).index_select(0, flat), greedy)
            tok[:, 1:] = tok.new_zeros(n * (width - 1)).index_copy_(0, flat, lp.to(tok.dtype)).view(n, width - 1)
            if greedy:
                arg[:, 1:] = arg.new_full((n * (width - 1),), -1).index_copy_(0, flat, g).view(n, width - 1)
        yield rows, tok, arg


def _cache_passes(model, prompts, prompt_of_row, targets, opts, pad_id, dev, keyword, greedy):
    """The prompt passes and, from their key/value cache, the answer passes (:func:`_score_pass`)."""
    for chunk, passes in _plan(prompts, prompt_of_row, targets, opts.batch_size):
        local = {p: j for j, p in enumerate(chunk)}
        sel_of_row = {i: local[prompt_of_row[i]] for r in passes for i in r}
        kw = dict(pad_id=pad_id, dev=dev, keyword=keyword, context=opts.context, greedy=greedy)
        yield from _score_pass(model, [prompts[p] for p in chunk], passes, sel_of_row, targets, **kw)


def _trie_passes(model, prompts, prompt_of_row, targets, opts, pad_id, dev, keyword, greedy):
    """One pass per group of prompts, each followed by its answers' trie (:mod:`npo_lab.answer_trie`)."""
    rows_of: dict[int, list[int]] = {}
    for i, p in enumerate(prompt_of_row):
        rows_of.setdefault(p, []).append(i)
    tries = {p: answer_trie([targets[i] for i in rows]) for p, rows in rows_of.items()}
    order = sorted(rows_of, key=lambda p: len(prompts[p]) + len(tries[p][0]))
    most = max(1, opts.batch_size // max(len(rows) for rows in rows_of.values()))  # ≤ batch_size answers a pass
    for a, b in split_sorted([len(prompts[p]) + len(tries[p][0]) for p in order], most):
        group = order[a:b]
        answers = [[targets[i] for i in rows_of[p]] for p in group]
        kw = dict(pad_id=pad_id, dev=dev, context=opts.context, greedy=greedy)
        tok, arg = score_trie_pass(model, [prompts[p] for p in group], [tries[p] for p in group], answers, **kw)
        yield [i for p in group for i in rows_of[p]], tok, arg


def score_answers(model, tokenizer, rows, *, token_logps: bool = False, greedy_ids: bool = False, **options) -> Scores:
    """Summed answer log-prob and answer-token count of every row under ``model``.

    Rows with the same question share one prompt pass, and answers their common prefixes (see the module docstring);
    the numbers are those of
    :func:`score_answers_reference` up to float rounding (``|Δ log-prob| ≲ 1e-5`` per token in float32).

    Args:
        rows: mappings (list, ``datasets.Dataset`` or DataFrame) with ``question_key`` and ``answer_key``.
        token_logps: also return the per-token answer log-probs of every row.
        greedy_ids: also return the model's argmax token at every answer position (:attr:`Scores.greedy_ids`).
        options: the fields of :class:`ForwardOptions`: ``template``, ``max_length`` (encoding as in training,
            :func:`npo_lab.tofu.data.encode_qa`); ``batch_size`` (answers per forward pass: a pass holds the prompts
            whose answers number at most this all together, and at least one prompt); ``question_key``,
            ``answer_key``; ``device`` (where the batches go, default: the model's input-embedding device);
            ``context`` (callable returning a context manager around each forward, e.g. autocast).
    Returns:
        :class:`Scores` with ``logp (N,)`` float32 and ``n_tokens (N,)`` long, on the CPU.
    """
    from .prompts import pad_token_id

    opts = ForwardOptions(**options)
    rows = _as_rows(rows)
    keyword = cache_keyword(model)
    if keyword is None:
        return score_answers_reference(model, tokenizer, rows, token_logps=token_logps, **options)
    prompts, prompt_of_row, targets = encode_rows(tokenizer, rows, **opts.encoding())
    pad_id = pad_token_id(tokenizer)
    dev = model_device(model, opts.device)
    order, toks, args = [], [], []
    passes = _trie_passes if takes_tree_mask(model) else _cache_passes
    with eval_mode(model), torch.inference_mode():
        for rows, tok, arg in passes(model, prompts, prompt_of_row, targets, opts, pad_id, dev, keyword, greedy_ids):
            order += rows
            toks.append(tok)
            args.append(arg)
    return _collect(order, targets, toks, args, token_logps, greedy_ids)


def _collect(order, targets, toks, args, token_logps: bool, greedy_ids: bool) -> Scores:
    """Per-pass ``(n, A)`` results -> :class:`Scores` in the rows' order (one transfer per pass, none per row)."""
    n_rows = len(targets)
    inv = torch.empty(n_rows, dtype=torch.long)
    inv[torch.tensor(order, dtype=torch.long)] = torch.arange(n_rows)
    logp = torch.cat([t.sum(dim=-1).float().cpu() for t in toks])[inv].clone()
    if not torch.isfinite(logp).all():
        bad = torch.nonzero(~torch.isfinite(logp)).flatten()[:5].tolist()
        raise ValueError(
            f"the answer log-prob is not finite for rows {bad} (NaN/inf logits or a zero-probability token)"
        )
    n_tokens = torch.tensor([len(t) for t in targets], dtype=torch.long)
    per_tok = per_arg = None
    if token_logps or greedy_ids:
        flat_tok, flat_arg = [None] * n_rows, [None] * n_rows
        pos = 0
        for k, tok in enumerate(toks):
            tok_cpu = tok.float().cpu() if token_logps else None
            arg_cpu = args[k].cpu() if greedy_ids else None
            for j in range(tok.shape[0]):
                i = order[pos + j]
                if token_logps:
                    flat_tok[i] = tok_cpu[j, : len(targets[i])].clone()
                if greedy_ids:
                    flat_arg[i] = arg_cpu[j, : len(targets[i])].clone()
            pos += tok.shape[0]
        per_tok = flat_tok if token_logps else None
        per_arg = flat_arg if greedy_ids else None
    return Scores(logp, n_tokens, per_tok, per_arg, [list(t) for t in targets] if greedy_ids else None)
