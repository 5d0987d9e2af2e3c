"""Loading a TOFU checkpoint and its tokenizer for unlearning on a GPU: precision, weight dtype, fallbacks.

Precision (the rule of ``npo-lab unlearn`` and notebook 08): cards with native bf16 (compute capability ≥ 8:
A100, L4, H100) compute in bf16, older ones (T4, V100) in fp16, the CPU in fp32. Full fine-tuning keeps fp32
master weights (an AdamW step at lr 1e-5 on a weight of size ≈ 0.02 is a relative change of 5e-4, below bf16's
resolution 2⁻⁸ ≈ 4e-3: it would round away) and autocasts the matmuls; with LoRA the frozen base is held in 16 bit
and only the adapters (fp32, by peft) are trained.
"""

from __future__ import annotations

import gc

import torch

from ..runtime import resolve_device

__all__ = ["pick_dtype", "precision_for", "load_tokenizer", "load_model", "free_memory"]

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def pick_dtype(device: torch.device | str, requested: str = "auto") -> torch.dtype:
    """``requested`` (``bf16``, ``fp16``, ``fp32``), or for ``auto``: bf16 on cards with native bf16 (compute
    capability ≥ 8.0), fp16 on older cards (``torch.cuda.is_bf16_supported()`` says True there too, through slow
    emulation), fp32 on the CPU."""
    if requested != "auto":
        if requested not in _DTYPES:
            raise ValueError(f"requested must be auto or one of {', '.join(_DTYPES)}; got {requested!r}")
        return _DTYPES[requested]
    device = torch.device(device)
    if device.type != "cuda":
        return torch.float32
    return torch.bfloat16 if torch.cuda.get_device_capability(device)[0] >= 8 else torch.float16


def precision_for(lora: bool, device: torch.device | str | None = None) -> tuple[str, torch.dtype]:
    """``(precision, weight dtype)`` for a run on ``device`` (default: the first GPU if any, else the CPU):
    the :class:`~npo_lab.unlearn.UnlearnConfig` ``precision`` and the dtype to load the weights in."""
    device = torch.device(device) if device is not None else resolve_device()
    compute = pick_dtype(device)
    if compute == torch.float32:
        return "fp32", torch.float32
    name = "bf16" if compute == torch.bfloat16 else "fp16"
    return name, (compute if lora else torch.float32)


def load_tokenizer(hub_id: str, *, fallback: str | None = None, trust_remote_code: bool = False):
    """The tokenizer of ``hub_id``; where its repository has none, the ``fallback`` (default: the registry's
    ``tokenizer_fallback``, e.g. ``microsoft/phi-1_5`` for ``locuslab/tofu_ft_phi-1.5``). A missing pad token is
    set to EOS."""
    from transformers import AutoTokenizer

    from ..tofu.checkpoints import find_checkpoint

    if fallback is None:
        known = find_checkpoint(hub_id)
        fallback = known.tokenizer_fallback if known else None
    try:
        tok = AutoTokenizer.from_pretrained(hub_id, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as err:
        if not fallback:
            raise
        print(f"no tokenizer in {hub_id} ({type(err).__name__}); using {fallback}'s")
        tok = AutoTokenizer.from_pretrained(fallback, trust_remote_code=trust_remote_code)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def _dtype_keyword() -> str:
    """``dtype`` (transformers ≥ 4.56) or the older ``torch_dtype``."""
    import transformers

    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    return "dtype" if (major, minor) >= (4, 56) else "torch_dtype"


def load_model(hub_id: str, *, dtype: torch.dtype = torch.float32, trust_remote_code: bool = False):
    """``hub_id`` as a causal LM in ``dtype``, loaded straight onto the first GPU when there is one (a 7 B model
    in 16 bit would not fit a Colab runtime's CPU memory), else on the CPU."""
    from transformers import AutoModelForCausalLM

    device_map = {"": 0} if torch.cuda.is_available() else None
    return AutoModelForCausalLM.from_pretrained(
        hub_id, **{_dtype_keyword(): dtype}, device_map=device_map, trust_remote_code=trust_remote_code
    )


def free_memory() -> None:
    """Collect garbage and return cached GPU memory (between two models)."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
