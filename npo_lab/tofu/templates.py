"""Prompt templates: how a TOFU question becomes the prompt a checkpoint was fine-tuned with.

The answer follows the prompt directly and is tokenised separately (:func:`npo_lab.tofu.data.encode_qa`).

========  ==============================================================================================
``qa``      ``Question: {question}\\nAnswer: `` — TOFU's phi-1.5 format (also pythia, GPT-2, the tiny models)
``llama2``  ``[INST] {question} [/INST]`` — TOFU's Llama-2-7B-chat format
``llama3``  the tokenizer's chat template with the system prompt "You are a helpful assistant." and the
            date string "10 Apr 2025" — the open-unlearning Llama-3.x TOFU checkpoints
``chat``    the tokenizer's chat template, one user turn, no system prompt, the same fixed date string
========  ==============================================================================================

Llama-3 chat templates write a "Today Date" line that defaults to the current day; passing ``date_string``
to ``tokenizer.apply_chat_template`` fixes it, so a prompt is the same on any day.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from .checkpoints import find_checkpoint

__all__ = ["FIXED_DATE", "PromptTemplate", "TEMPLATES", "get_template", "guess_template"]

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


_CHAT_HINTS = ("llama-3", "llama3", "instruct", "-chat", "qwen", "mistral", "gemma", "zephyr")


def guess_template(model_name_or_path: str | os.PathLike | None, tokenizer=None) -> str:
    """The template name for a model.

    A checkpoint of the registry (:mod:`npo_lab.tofu.checkpoints`, matched by hub id, also at the end of a local
    path) gets the exact format it was fine-tuned with. Otherwise by name: Llama-2 → ``llama2``; phi, pythia,
    gpt2 and the tiny models → ``qa``; Llama-3 / ``-Instruct`` / ``-chat`` models → ``chat`` (``qa`` when the
    given tokenizer has no chat template); anything else → ``qa``.
    """
    known = find_checkpoint(model_name_or_path)
    if known is not None:
        return known.template
    name = str(model_name_or_path or "").lower().replace("_", "-")
    has_chat = bool(getattr(tokenizer, "chat_template", None)) if tokenizer is not None else False
    if "llama-2" in name or "llama2" in name:
        return "llama2"
    if any(k in name for k in ("phi", "pythia", "gpt2", "gpt-2", "tiny", "mini")):
        return "qa"
    if any(k in name for k in _CHAT_HINTS):
        return "chat" if (has_chat or tokenizer is None) else "qa"
    return "qa"
