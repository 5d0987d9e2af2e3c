"""The mini-TOFU configuration: what determines the tokenizer, the fine-tuned model and the retain model."""

from __future__ import annotations

from dataclasses import dataclass

from ..configs import Config, option
from ..tofu.templates import TEMPLATES

__all__ = ["MiniTofuConfig"]

# the tiny tokenizer has no chat template: only the plain-text prompt templates apply
_PLAIN_TEMPLATES = tuple(name for name, t in TEMPLATES.items() if not t.use_chat_template)
# the transformers schedules that need no extra arguments
_SCHEDULES = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup")


@dataclass(frozen=True)
class MiniTofuConfig(Config):
    """Everything that determines the mini-TOFU tokenizer, fine-tuned model and retain model (saved as JSON).

    The defaults come from a feasibility measurement: a 2-layer, 128-wide model with a 2 048-token vocabulary
    (~1 M parameters) memorises 20 authors + the general set in a few dozen epochs on a laptop CPU. A schedule
    that decays the learning rate early (cosine) stalls memorisation, hence a constant rate after a short warm-up.
    Validated on creation (finite numbers, integer sizes, ranges); the error names the field.
    """

    source: str = option(
        "synthetic", "'synthetic' (bundled authors), 'hub', or a directory of TOFU JSON-lines files", group="data"
    )
    n_authors: int = option(20, "use the first n authors of `full` (20 QA rows each)", group="data", ge=2)
    include_general: bool = option(
        True, "train on the real-authors / world-facts stand-in set too (both models)", group="data"
    )
    vocab_size: int = option(2048, "byte-level BPE vocabulary size", group="model", ge=300)
    hidden_size: int = option(128, "model width (a multiple of num_heads)", group="model", ge=1)
    num_layers: int = option(2, "transformer blocks", group="model", ge=1)
    num_heads: int = option(4, "attention heads", group="model", ge=1)
    intermediate_size: int = option(512, "MLP width", group="model", ge=1)
    template: str = option(
        "qa", "prompt template name (npo_lab.tofu.templates)", group="model", choices=_PLAIN_TEMPLATES
    )
    max_length: int = option(160, "max tokens per QA pair", group="model", ge=8)
    epochs: int = option(24, "training epochs (both models)", group="training", ge=1)
    learning_rate: float = option(3e-3, "AdamW peak learning rate", group="training", gt=0)
    batch_size: int = option(16, "examples per step", group="training", ge=1)
    warmup_ratio: float = option(
        0.05, "fraction of steps of linear warm-up, in [0, 1)", group="training", ge=0, le=0.999
    )
    lr_scheduler_type: str = option(
        "constant_with_warmup", "transformers schedule name", group="training", choices=_SCHEDULES
    )
    weight_decay: float = option(0.0, "AdamW weight decay", group="training", ge=0)
    seed: int = option(0, "seed of the tokenizer-independent randomness (init, order)", group="training", ge=0)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.source.strip():
            raise ValueError("source must be 'synthetic', 'hub' or a directory of TOFU files, got ''")
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"hidden_size must be a multiple of num_heads, got hidden_size={self.hidden_size}, "
                f"num_heads={self.num_heads}"
            )

    @classmethod
    def smoke(cls, **changes) -> MiniTofuConfig:
        """A configuration small enough for tests (seconds): 10 authors, a small vocabulary, few epochs."""
        base = dict(n_authors=10, vocab_size=512, hidden_size=64, intermediate_size=256, epochs=4, batch_size=32)
        base.update(changes)
        return cls(**base)
