"""Prompts and tokenisation: how a question becomes the prompt a checkpoint was fine-tuned with, and how a QA
pair becomes ``input_ids`` / ``labels`` with the prompt masked. Below the scoring, the TOFU data and the trainer,
which all tokenise through it.

========  ==============================================================================================
``qa``      ``Question: {question}\\nAnswer: `` — TOFU's phi-1.5 format (also pythia, GPT-2, the tiny models)
``llama2``  ``[INST] {question} [/INST]`` — TOFU's Llama-2-7B-chat format
``llama3``  the tokenizer's chat template with the system prompt "You are a helpful assistant." and the
            date string "10 Apr 2025" — the open-unlearning Llama-3.x TOFU checkpoints
``chat``    the tokenizer's chat template, one user turn, no system prompt, the same fixed date string
========  ==============================================================================================

Llama-3 chat templates write a "Today Date" line that defaults to the current day; passing ``date_string``
to ``tokenizer.apply_chat_template`` fixes it, so a prompt is the same on any day.

Tokenisation (:func:`encode_qa`): the prompt and the answer are tokenised **separately** and concatenated, so the
prompt/answer boundary is exact (no off-by-one drift from a BOS token that a joint tokenisation would add or
merge). EOS is appended; the labels are ``-100`` on the prompt and equal the input ids on the answer + EOS. The
per-sequence answer log-prob that every unlearning loss uses is then
``log π(y|x) = Σ_t labels≠-100 log p(y_t | y_<t, x)`` (arXiv 2404.05868 §2; see
:func:`npo_lab.losses.sequence_logprob`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

__all__ = [
    "FIXED_DATE",
    "PromptTemplate",
    "TEMPLATES",
    "get_template",
    "IGNORE_INDEX",
    "encode_prompt",
    "encode_qa",
    "pad_batch",
    "pad_token_id",
    "QACollator",
]

IGNORE_INDEX = -100

#: the date string the open-unlearning Llama-3.x TOFU checkpoints were fine-tuned with
FIXED_DATE = "10 Apr 2025"


@dataclass(frozen=True)
class PromptTemplate:
    """How a question becomes a prompt: ``prefix + question + suffix``, or the tokenizer's chat template.

    With ``use_chat_template`` the messages are ``[system?, user]`` and ``system_prompt`` / ``date_string`` go
    to ``tokenizer.apply_chat_template`` (the date as an extra template variable).
    """

    name: str
    prefix: str = ""
    suffix: str = ""
    use_chat_template: bool = False
    system_prompt: str | None = None
    date_string: str | None = None

    def prompt(self, question: str, tokenizer=None) -> str:
        """The prompt text for ``question`` (needs ``tokenizer`` for a chat template)."""
        if not self.use_chat_template:
            return f"{self.prefix}{question}{self.suffix}"
        if tokenizer is None or not getattr(tokenizer, "chat_template", None):
            raise ValueError(
                f"template {self.name!r} needs a tokenizer with a chat_template; use 'qa' or 'llama2' otherwise"
            )
        messages = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        messages.append({"role": "user", "content": question})
        extra = {"date_string": self.date_string} if self.date_string is not None else {}
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **extra)

    def format(self, question: str, answer: str, tokenizer=None) -> str:
        """Prompt + answer as one string (for display; training tokenises the two parts separately)."""
        return self.prompt(question, tokenizer) + answer


TEMPLATES: dict[str, PromptTemplate] = {
    "llama2": PromptTemplate("llama2", "[INST] ", " [/INST]"),
    "qa": PromptTemplate("qa", "Question: ", "\nAnswer: "),
    "llama3": PromptTemplate(
        "llama3", use_chat_template=True, system_prompt="You are a helpful assistant.", date_string=FIXED_DATE
    ),
    "chat": PromptTemplate("chat", use_chat_template=True, date_string=FIXED_DATE),
}


def get_template(name_or_tokenizer: str | PromptTemplate | Any = "qa") -> PromptTemplate:
    """A :class:`PromptTemplate` by name (one of :data:`TEMPLATES`), unchanged if already one.

    Given a tokenizer instead of a name: ``chat`` if it has a chat template, else ``qa``.
    """
    if isinstance(name_or_tokenizer, PromptTemplate):
        return name_or_tokenizer
    if isinstance(name_or_tokenizer, str):
        if name_or_tokenizer not in TEMPLATES:
            raise ValueError(f"template must be one of {', '.join(TEMPLATES)}; got {name_or_tokenizer!r}")
        return TEMPLATES[name_or_tokenizer]
    if hasattr(name_or_tokenizer, "encode"):
        return TEMPLATES["chat" if getattr(name_or_tokenizer, "chat_template", None) else "qa"]
    raise ValueError(
        f"template must be a name ({', '.join(TEMPLATES)}), a PromptTemplate or a tokenizer; "
        f"got {type(name_or_tokenizer).__name__}"
    )


# --------------------------------------------------------------------------------------------------------------
# tokenisation
# --------------------------------------------------------------------------------------------------------------
def _ids(tokenizer, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _bos_prefix(tokenizer) -> list[int]:
    """``[bos_id]`` when the tokenizer adds a BOS token by itself (Llama, Llama-3), else ``[]`` (GPT-2, phi)."""
    bos = getattr(tokenizer, "bos_token_id", None)
    if bos is None:
        return []
    ids = tokenizer("a", add_special_tokens=True)["input_ids"]
    return [bos] if len(ids) > 0 and ids[0] == bos else []


def _eos_id(tokenizer) -> int:
    eos = getattr(tokenizer, "eos_token_id", None)
    if eos is None:
        raise ValueError("tokenizer has no eos_token_id; set tokenizer.eos_token before encoding TOFU answers")
    return int(eos)


def pad_token_id(tokenizer) -> int:
    """The tokenizer's pad id (its EOS id when it has none)."""
    pad = getattr(tokenizer, "pad_token_id", None)
    if pad is None:
        pad = _eos_id(tokenizer)
    return int(pad)


def encode_prompt(tokenizer, question: str, template: str | PromptTemplate = "qa") -> list[int]:
    """Token ids of the prompt alone: BOS once at the start if the tokenizer adds one, never twice.

    This is exactly the prompt part of :func:`encode_qa`, so greedy generation sees the training prompt.
    """
    tpl = get_template(template)
    ids = _ids(tokenizer, tpl.prompt(question, tokenizer))
    bos = _bos_prefix(tokenizer)
    if bos and ids[:1] != bos:  # a chat template may already start with the BOS text
        ids = bos + ids
    return ids


def encode_qa(
    tokenizer,
    question: str,
    answer: str,
    template: str | PromptTemplate = "qa",
    max_length: int = 256,
) -> dict[str, list[int]]:
    """Encode one QA pair for a causal LM with the prompt masked.

    ``input_ids = [BOS?] + tok(prompt) + tok(answer) + [EOS]`` (prompt and answer tokenised separately, no
    special tokens, BOS only if the tokenizer adds one, once); ``labels = [-100] * len(prompt part) +
    tok(answer) + [EOS]``. Sequences longer than ``max_length`` lose answer tokens from the end; EOS is kept.

    Returns:
        dict of equal-length lists ``input_ids``, ``attention_mask`` (all 1), ``labels``.
    """
    if not isinstance(question, str) or not isinstance(answer, str):
        raise ValueError("question and answer must be strings")
    if int(max_length) < 2:
        raise ValueError(f"max_length must be >= 2, got {max_length}")
    prompt_ids = encode_prompt(tokenizer, question, template)
    answer_ids = _ids(tokenizer, answer)
    room = int(max_length) - len(prompt_ids) - 1
    if room < 1 and answer_ids:
        raise ValueError(
            f"max_length={max_length} leaves no room for the answer: the prompt alone has {len(prompt_ids)} tokens"
        )
    answer_ids = answer_ids[: max(room, 0)] + [_eos_id(tokenizer)]
    input_ids = prompt_ids + answer_ids
    labels = [IGNORE_INDEX] * len(prompt_ids) + answer_ids
    return {"input_ids": input_ids, "attention_mask": [1] * len(input_ids), "labels": labels}


def pad_batch(
    features: Sequence[Mapping[str, Sequence[int]]],
    pad_token_id: int,
    padding_side: str = "right",
) -> dict[str, torch.Tensor]:
    """Pad a list of encoded examples to a batch of ``LongTensor`` s of shape ``(B, T)``, ``T`` = longest.

    ``input_ids`` are padded with ``pad_token_id``, ``attention_mask`` with 0, ``labels`` with -100 (only the
    keys present are returned). ``padding_side="left"`` is for batched generation.
    """
    if padding_side not in ("right", "left"):
        raise ValueError(f"padding_side must be 'right' or 'left', got {padding_side!r}")
    if not features:
        raise ValueError("features must be a non-empty list of encoded examples")
    pad_values = {"input_ids": int(pad_token_id), "attention_mask": 0, "labels": IGNORE_INDEX}
    keys = [k for k in pad_values if k in features[0]]
    if "input_ids" not in keys:
        raise ValueError("every feature needs 'input_ids'")
    T = max(len(f["input_ids"]) for f in features)
    out = {}
    for key in keys:
        rows = []
        for f in features:
            seq = list(f[key])
            if len(seq) != len(f["input_ids"]):
                raise ValueError(f"feature field {key!r} has a different length than 'input_ids'")
            pad = [pad_values[key]] * (T - len(seq))
            rows.append(seq + pad if padding_side == "right" else pad + seq)
        out[key] = torch.tensor(rows, dtype=torch.long)
    return out


class QACollator:
    """Rows (dicts with a question and an answer) → ``input_ids, attention_mask, labels`` of shape ``(B, T)``.

    Each distinct (question, answer) pair is encoded once and remembered: a training run of many epochs then
    tokenizes its rows once instead of at every step (the encoding depends only on the tokenizer, template and
    ``max_length``, fixed here)."""

    def __init__(
        self,
        tokenizer,
        template: str | PromptTemplate = "qa",
        max_length: int = 256,
        question_key: str = "question",
        answer_key: str = "answer",
    ):
        self.tokenizer = tokenizer
        self.template = get_template(template)
        self.max_length = int(max_length)
        self.question_key = question_key
        self.answer_key = answer_key
        self._encoded: dict[tuple[str, str], dict[str, list[int]]] = {}

    def encode(self, question: str, answer: str) -> dict[str, list[int]]:
        key = (question, answer)
        if key not in self._encoded:
            self._encoded[key] = encode_qa(self.tokenizer, question, answer, self.template, self.max_length)
        return self._encoded[key]

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        feats = []
        for i, row in enumerate(rows):
            for key in (self.question_key, self.answer_key):
                if key not in row:
                    raise ValueError(f"row {i} has no field {key!r}")
            feats.append(self.encode(row[self.question_key], row[self.answer_key]))
        return pad_batch(feats, pad_token_id(self.tokenizer))
