"""Mini-TOFU: a tiny byte-level BPE tokenizer and a tiny Llama-style model, trained on CPU in seconds.

The paper's TOFU setting (arXiv 2404.05868, Sec. 5) on a laptop: a randomly initialised ~1 M-parameter
Llama-style causal LM first learns a small set of (fictitious) authors plus a general-knowledge set that stands in
for the real-authors / world-facts knowledge a pretrained model would bring; this is the **fine-tuned** model (the
reference model of unlearning). A second model of the same size learns only the retain authors (plus the general
set); this is the **retain** model, the target that forget quality is measured against. Holdout authors of the
same kind are trained on by neither: the non-members of membership-inference audits. Both models are trained
with the same ``transformers.Trainer`` machinery and cached on disk with ``save_pretrained`` under
``$NPO_LAB_CACHE`` (default ``~/.cache/npo_lab``), keyed by a hash of the configuration and the data, so a second
run starts in seconds.

Modules: :mod:`.model` (tokenizer, tiny Llama), :mod:`.config` (:class:`MiniTofuConfig`), :mod:`.subset` (the
first ``n_authors`` authors of a TOFU-format source as a small TOFU-format directory), :mod:`.train` (training
and answer probability), :mod:`.cache` and :mod:`.pipeline` (:func:`prepare`, :class:`MiniTofu`).
"""

from .cache import cache_root
from .config import MiniTofuConfig
from .model import SPECIAL_TOKENS, n_parameters, tiny_llama, train_tokenizer
from .pipeline import MiniTofu, prepare
from .subset import load_source_rows, write_subset_source
from .train import answer_probability, train_lm

__all__ = [
    "SPECIAL_TOKENS",
    "MiniTofuConfig",
    "MiniTofu",
    "train_tokenizer",
    "tiny_llama",
    "n_parameters",
    "cache_root",
    "load_source_rows",
    "write_subset_source",
    "train_lm",
    "answer_probability",
    "prepare",
]
