"""Prompt templates of TOFU checkpoints: the formats themselves live in :mod:`npo_lab.prompts` (re-exported here);
:func:`guess_template` picks one for a model, from the checkpoint registry (:mod:`npo_lab.tofu.checkpoints`) or
its name. The answer follows the prompt directly and is tokenised separately (:func:`npo_lab.prompts.encode_qa`).
"""

from __future__ import annotations

import os

from ..prompts import FIXED_DATE, TEMPLATES, PromptTemplate, get_template
from .checkpoints import find_checkpoint

__all__ = ["FIXED_DATE", "PromptTemplate", "TEMPLATES", "get_template", "guess_template"]


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
