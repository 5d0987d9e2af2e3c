"""Registry of the public TOFU checkpoints: hub id, size, prompt format, retain reference, published numbers.

Every entry records the prompt format its checkpoint was fine-tuned with (a :data:`npo_lab.tofu.templates.TEMPLATES`
name; the system prompt and date string of that template), so evaluation and unlearning see the training
prompts. Sources:

* open-unlearning Llama-3.x checkpoints — ``configs/model/Llama-3.*-Instruct.yaml`` of locuslab/open-unlearning
  (``template_args``: ``apply_chat_template: True``, ``system_prompt: You are a helpful assistant.``,
  ``date_string: 10 Apr 2025``).
* locuslab checkpoints — ``config/model_config.yaml`` of locuslab/tofu (phi: ``Question: `` + q + ``\\n`` +
  ``Answer: ``; llama2-7b: ``[INST] `` + q + `` [/INST]``).

Published numbers (:class:`Reference`, forget10 rows only):

* Llama-3.2-1B-Instruct — the table "TOFU unlearning on the Llama-3.2-1B-Instruct architecture" of
  ``docs/repro.md`` in locuslab/open-unlearning (lr 1e-5, 10 epochs, β = 0.1, α = γ = 1; its authors note that
  the numbers are for reproducibility, not tuned). docs/repro.md has no table for the 3B and 8B models: their
  entries carry no numbers.
* locuslab/tofu_ft_llama2-7b — model utility and forget quality computed by :mod:`npo_lab.tofu.metrics` from the
  eval logs published with TOFU (``full`` and ``retain90``, 300 forget10 rows). No paper table value was
  transcribed (the NPO paper, arXiv 2404.05868 §5, reports TOFU results as curves), so method rows are absent.
* locuslab/tofu_ft_phi-1.5 — no number recorded.

Parameter counts are those of the architecture (embeddings included, tied embeddings counted once).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..prompts import TEMPLATES

__all__ = ["Reference", "Checkpoint", "CHECKPOINTS", "get_checkpoint", "find_checkpoint", "published"]

_REPRO = "locuslab/open-unlearning docs/repro.md, TOFU Llama-3.2-1B-Instruct table, forget10"
_TOFU_LOGS = (
    "npo_lab.tofu.metrics on the TOFU eval logs of locuslab/tofu "
    "(data/ft_epoch5_lr1e-05_llama2-7b_{full,retain90}_wd0.01, ds_size300)"
)
_LOG_URL = (
    "https://raw.githubusercontent.com/locuslab/tofu/main/data/ft_epoch5_lr{lr}_{model}_retain90_wd0.01/"
    "eval_results/ds_size300/eval_log_aggregated.json"
)


@dataclass(frozen=True)
class Reference:
    """One published result: ``method`` (``finetuned``, ``retain``, ``NPO``, ``GradDiff``, ``SimNPO``) on
    ``forget_split``; forget quality (KS p-value), model utility and forget truth ratio where published."""

    method: str
    forget_split: str
    forget_quality: float | None
    model_utility: float | None
    forget_truth_ratio: float | None
    source: str


@dataclass(frozen=True)
class Checkpoint:
    """A TOFU checkpoint: ``hub_id``, ``n_params``, the ``template`` it was fine-tuned with (a template name),
    ``trained_on`` (``full`` or a retain split), the retain reference for forget quality (``retain_model``: a hub
    id to evaluate, or ``retain_log_url``: a published eval log) and published :class:`Reference` numbers."""

    hub_id: str
    n_params: int
    template: str
    trained_on: str
    retain_model: str | None = None
    retain_log_url: str | None = None
    references: tuple[Reference, ...] = ()
    #: where to load the tokenizer from when the checkpoint's repository has none (its base model)
    tokenizer_fallback: str | None = None
    #: the linear layers LoRA adapts (``None``: :class:`~npo_lab.unlearn.UnlearnConfig`'s Llama-style default)
    lora_target_modules: tuple[str, ...] | None = None
    #: the ``model`` argument of :func:`npo_lab.tofu.logs.load_reference_log` for ``retain_log_url``'s logs
    reference_log: str | None = None

    @property
    def system_prompt(self) -> str | None:
        """The system prompt of its template (``None`` for the plain-text formats)."""
        return TEMPLATES[self.template].system_prompt

    @property
    def date_string(self) -> str | None:
        """The fixed date string of its template (``None`` for the plain-text formats)."""
        return TEMPLATES[self.template].date_string


def _ou_refs_1b() -> tuple[Reference, ...]:
    rows = {  # method: (forget quality, model utility, forget truth ratio)
        "finetuned": (1.66e-21, 0.6, 0.48),
        "retain": (1.0, 0.59, 0.63),
        "GradDiff": (1.06e-239, 0.49, 3.53e-27),
        "NPO": (0.02, 0.46, 0.7),
        "SimNPO": (2.47e-203, 0.54, 1.07e-05),
    }
    return tuple(Reference(m, "forget10", fq, mu, tr, _REPRO) for m, (fq, mu, tr) in rows.items())


def _open_unlearning(size: str, version: str, n_params: int, refs: tuple[Reference, ...]) -> list[Checkpoint]:
    base = f"open-unlearning/tofu_Llama-{version}-{size}-Instruct"
    return [
        Checkpoint(f"{base}_full", n_params, "llama3", "full", retain_model=f"{base}_retain90", references=refs),
        Checkpoint(
            f"{base}_retain90", n_params, "llama3", "retain90", retain_model=f"{base}_retain90", references=refs
        ),
    ]


_LLAMA2_REFS = (
    Reference("finetuned", "forget10", 1.83e-21, 0.6227, None, _TOFU_LOGS),
    Reference("retain", "forget10", 1.0, 0.6137, None, _TOFU_LOGS),
)

CHECKPOINTS: dict[str, Checkpoint] = {
    c.hub_id: c
    for c in [
        *_open_unlearning("1B", "3.2", 1_235_814_400, _ou_refs_1b()),
        *_open_unlearning("3B", "3.2", 3_212_749_824, ()),
        *_open_unlearning("8B", "3.1", 8_030_261_248, ()),
        Checkpoint(
            "locuslab/tofu_ft_phi-1.5",
            1_418_270_720,
            "qa",
            "full",
            retain_log_url=_LOG_URL.format(lr="2e-05", model="phi"),
            tokenizer_fallback="microsoft/phi-1_5",  # the repository holds no tokenizer
            lora_target_modules=("q_proj", "k_proj", "v_proj", "dense", "fc1", "fc2"),
            reference_log="phi",
        ),
        Checkpoint(
            "locuslab/tofu_ft_llama2-7b",
            6_738_415_616,
            "llama2",
            "full",
            retain_log_url=_LOG_URL.format(lr="1e-05", model="llama2-7b"),
            references=_LLAMA2_REFS,
            tokenizer_fallback="NousResearch/Llama-2-7b-chat-hf",  # the model TOFU fine-tuned
            reference_log="llama2-7b",
        ),
    ]
}


def get_checkpoint(hub_id: str) -> Checkpoint:
    """The registry entry of ``hub_id`` (case-insensitive); ValueError listing the known ids otherwise."""
    found = find_checkpoint(hub_id) if isinstance(hub_id, str) else None
    if found is None:
        raise ValueError(f"hub_id must be one of {', '.join(CHECKPOINTS)}; got {hub_id!r}")
    return found


def find_checkpoint(model_name_or_path: str | os.PathLike | None) -> Checkpoint | None:
    """The entry whose hub id is ``model_name_or_path`` or ends it (a local copy such as
    ``/models/locuslab/tofu_ft_phi-1.5`` or ``.../tofu_ft_phi-1.5``), case-insensitive; ``None`` if none."""
    if model_name_or_path is None:
        return None
    name = str(model_name_or_path).replace("\\", "/").rstrip("/").lower()
    for hub_id, ckpt in CHECKPOINTS.items():
        hid = hub_id.lower()
        if name == hid or name.endswith("/" + hid) or name.split("/")[-1] == hid.split("/")[-1]:
            return ckpt
    return None


def published(hub_id: str, method: str = "finetuned", forget_split: str = "forget10") -> Reference | None:
    """The published :class:`Reference` of ``method`` on ``forget_split`` for a checkpoint, or ``None``."""
    ckpt = get_checkpoint(hub_id)
    return next((r for r in ckpt.references if r.method == method and r.forget_split == forget_split), None)
