"""Model plumbing of unlearning: LoRA wrapping, the frozen reference copy, DeepSpeed detection.

With LoRA (peft) the reference π_ref is the base model itself with the adapters disabled, so no copy is made;
under DeepSpeed ZeRO-3 the parameters are sharded and a reference copy cannot be made (use DDP, ZeRO-1/2 or LoRA
for the KL methods).
"""

from __future__ import annotations

import contextlib
import copy

__all__ = ["is_peft", "apply_lora", "reference_copy", "reference_context", "zero3_enabled", "prepare_deepspeed_ref"]


def is_peft(model) -> bool:
    try:
        from peft import PeftModel
    except ImportError:  # pragma: no cover
        return False
    return isinstance(model, PeftModel)


def apply_lora(model, cfg):
    """Wrap ``model`` with LoRA adapters of rank ``cfg.lora_r`` on the ``cfg.lora_target_modules`` it has."""
    from peft import LoraConfig, get_peft_model

    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    targets = [t for t in cfg.lora_target_modules if t in present]
    if not targets:
        raise ValueError(
            f"lora_target_modules {list(cfg.lora_target_modules)} match no module of the model; "
            f"some module names: {sorted(present)[:20]}"
        )
    lora = LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=targets,
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, lora)
    if cfg.gradient_checkpointing and hasattr(model, "enable_input_require_grads"):
        model.enable_input_require_grads()
    return model


def zero3_enabled() -> bool:
    """True when the Trainer will shard parameters with DeepSpeed ZeRO-3."""
    try:
        from transformers.integrations import is_deepspeed_zero3_enabled
    except ImportError:  # pragma: no cover
        return False
    return bool(is_deepspeed_zero3_enabled())


def reference_copy(model, method_name: str):
    """A frozen copy of the initial ``model`` (eval mode, no grad), or ``None`` for a peft model (whose base,
    adapters disabled, is the reference)."""
    if is_peft(model):
        return None
    if zero3_enabled():
        raise ValueError(
            f"method {method_name} keeps a reference model (KL term or cache_reference=False), which "
            "is not supported under DeepSpeed ZeRO-3 (partitioned weights cannot be copied); use DDP, "
            "ZeRO-1/2 or LoRA (lora_r > 0)"
        )
    return copy.deepcopy(model).eval().requires_grad_(False)


def reference_context(model, ref_model):
    """Where a reference forward runs: adapters disabled for a peft model without a copy, nothing otherwise."""
    if ref_model is None and is_peft(model):
        return model.disable_adapter()
    return contextlib.nullcontext()


def prepare_deepspeed_ref(ref_model, accelerator):  # pragma: no cover - needs GPUs + deepspeed
    """Wrap a frozen reference model with DeepSpeed (inference only) with the run's ZeRO settings, following the
    recipe of TRL's trainers."""
    import deepspeed

    config = copy.deepcopy(accelerator.state.deepspeed_plugin.deepspeed_config)
    if config.get("zero_optimization", {}).get("stage", 0) != 3:
        config.setdefault("zero_optimization", {})["stage"] = 0
    config.pop("optimizer", None)
    config.pop("scheduler", None)
    engine, *_ = deepspeed.initialize(model=ref_model, config=config)
    engine.eval()
    return engine
