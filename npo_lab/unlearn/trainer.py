"""The ``Unlearner``: a ``transformers.Trainer`` whose loss is any objective of :data:`npo_lab.losses.METHODS`.

One training step (paper arXiv 2404.05868, Sec. 3 and 5):

1. **What the method needs.** ``method.needs_by_group`` says, per group of sequences (``forget``, ``retain``,
   ``idk``), which quantities its terms read: ``logp`` (summed answer log-prob under π_θ), ``ref_logp`` (the same
   under π_ref), ``n_tokens`` (answer length) or ``kl`` (token-mean KL(π_ref ‖ π_θ)). NPO+RT, for example, needs
   ``{"forget": {logp, ref_logp}, "retain": {logp, n_tokens}}``.
2. **The forward passes.** One forward of the model per group that needs ``logp`` or ``kl``; ``ref_logp`` comes
   from the cached column (computed once before training, so NPO costs one forward + one backward per step
   instead of two forwards + one backward) or, without the cache, from a reference forward; ``kl`` needs the
   reference logits, so a reference model stays in memory only for the KL methods.
3. **The loss.** The quantities fill a :class:`~npo_lab.losses.LossInputs`; ``method.loss`` returns the
   per-example objective ``(B,)`` and the batch objective is its mean. Nothing here branches on a method's name.

Everything else the Trainer brings: accelerate, DDP, FSDP/DeepSpeed, gradient accumulation, mixed precision,
checkpoints.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import torch
from transformers import Trainer, TrainingArguments

from ..losses import LossInputs, LossSettings, Method, get_method, kl_to_ref, loss_hypers, sequence_logprob, token_count
from .data import ForgetRetainCollator, ForgetRetainDataset
from .models import prepare_deepspeed_ref, reference_context, reference_copy

__all__ = ["Unlearner"]


class Unlearner(Trainer):
    """A ``Trainer`` that unlearns: ``compute_loss`` is ``method.loss`` of the inputs the method needs.

    Args:
        model: the model to unlearn (the fine-tuned model; also the reference π_ref).
        args: ``TrainingArguments`` (``remove_unused_columns`` is forced to ``False``).
        method: a METHODS name or :class:`~npo_lab.losses.Method`.
        train_dataset: a :class:`~npo_lab.unlearn.data.ForgetRetainDataset`.
        tokenizer: the tokenizer (``processing_class``).
        loss: the loss's hyper-parameters, a :class:`~npo_lab.losses.LossSettings` (or a mapping, or keywords
            such as ``beta=0.2``; the others at their defaults), handed whole to :meth:`~npo_lab.losses.Method.loss`.
        template, max_length: prompt template and length of the encoding (:func:`npo_lab.tofu.data.encode_qa`).
        cache_reference: True (default) caches reference log-probs once, at the start of training; False
            recomputes them every step with a reference model (the published code's way, for comparison).
        ref_batch_size: batch size of the reference pass.
        on_reference_cached: called with the dataset once its reference columns are computed (the run record
            saves them).

    ``self.ref_model`` is ``None`` unless the method has a KL term (or ``cache_reference=False``); with a peft
    model it stays ``None`` and the reference forward runs the model with its adapters disabled.
    """

    #: compute_loss returns a per-batch mean: the Trainer divides it by the accumulation steps itself
    loss_is_scaled_for_ga = False

    def __init__(
        self,
        model=None,
        args: TrainingArguments | None = None,
        *,
        method: str | Method = "NPO",
        train_dataset: ForgetRetainDataset | None = None,
        tokenizer=None,
        loss: LossSettings | Mapping | None = None,
        template: str = "qa",
        max_length: int = 256,
        cache_reference: bool = True,
        ref_batch_size: int = 16,
        on_reference_cached: Callable[[ForgetRetainDataset], None] | None = None,
        data_collator=None,
        callbacks=None,
        **kwargs,
    ):
        from .callbacks import ReferenceCacheCallback

        if args is None:
            raise ValueError("args (TrainingArguments) is required")
        if not isinstance(train_dataset, ForgetRetainDataset):
            raise ValueError("train_dataset must be a ForgetRetainDataset")
        self.method = get_method(method) if isinstance(method, str) else method
        hyper = {k: kwargs.pop(k) for k in list(kwargs) if k in loss_hypers()}  # e.g. beta=0.2
        self.loss_settings = LossSettings.of(loss, **hyper)
        self.template, self.max_length = template, int(max_length)
        self.cache_reference_enabled = bool(cache_reference)
        self.ref_batch_size = int(ref_batch_size)
        self.on_reference_cached = on_reference_cached
        self.reference_seconds: float | None = None
        args.remove_unused_columns = False  # the collator reads nested rows, not model-forward columns
        if data_collator is None:
            data_collator = ForgetRetainCollator(tokenizer, template=template, max_length=max_length)
        # a frozen copy of the *initial* model, made before the Trainer wraps anything
        self._needs_ref_forward = self.method.needs_ref_model or not self.cache_reference_enabled
        ref_model = reference_copy(model, self.method.name) if self._needs_ref_forward else None
        super().__init__(
            model=model,
            args=args,
            train_dataset=train_dataset,
            data_collator=data_collator,
            processing_class=tokenizer,
            callbacks=[ReferenceCacheCallback(self), *(callbacks or [])],
            **kwargs,
        )
        self.model_accepts_loss_kwargs = False
        self.ref_model = ref_model
        if ref_model is not None:
            self.ref_model = (
                prepare_deepspeed_ref(ref_model, self.accelerator)
                if self.is_deepspeed_enabled
                else ref_model.to(self.args.device)
            )
        self._loss_sums: dict[str, torch.Tensor] = {}
        self._loss_count = 0

    @classmethod
    def from_config(cls, model, args: TrainingArguments, config, **kwargs) -> Unlearner:
        """The trainer of an :class:`~npo_lab.unlearn.UnlearnConfig`: its method, loss settings, template, length
        and reference handling; ``kwargs``: the rest (``train_dataset``, ``tokenizer``, callbacks, ...)."""
        names = ("template", "max_length", "cache_reference", "ref_batch_size")
        own = {"method": config.method, "loss": config.loss, **{n: getattr(config, n) for n in names}}
        return cls(model, args, **own, **kwargs)

    # ------------------------------------------------------------------------------------------ reference
    @property
    def holds_ref_model(self) -> bool:
        """True when a separate reference model is kept in memory."""
        return self.ref_model is not None

    def reference_model(self):
        """The model that computes π_ref: the frozen copy, or the (peft) model itself."""
        return self.ref_model if self.ref_model is not None else self.model

    def reference_context(self):
        """Context of a reference forward (adapters disabled for a peft model without a copy)."""
        return reference_context(self.model, self.ref_model)

    def cache_reference(self, force: bool = False) -> bool:
        """Fill the dataset's ``forget_ref_logp`` (and ``idk_ref_logp``) columns with the current model when the
        method needs them and they are missing (or ``force``); True when something was computed. Runs at the
        start of training, when the model is still the initial model."""
        from ..scoring import score_answers

        ds: ForgetRetainDataset = self.train_dataset
        todo = []
        if self.cache_reference_enabled and self.method.needs_forget_ref and (force or ds.forget_ref_logp is None):
            todo.append(("forget_ref_logp", ds.forget))
        if self.cache_reference_enabled and self.method.needs_idk_ref and (force or ds.idk_ref_logp is None):
            todo.append(("idk_ref_logp", ds.idk_rows()))
        if not todo:
            return False
        t0 = time.perf_counter()
        with self.reference_context():
            for column, rows in todo:
                scores = score_answers(
                    self.reference_model(),
                    self.processing_class,
                    rows,
                    template=self.template,
                    max_length=self.max_length,
                    batch_size=self.ref_batch_size,
                    context=self.autocast_smart_context_manager,
                )
                if not torch.isfinite(scores.logp).all():
                    raise ValueError(f"reference log-probs ({column}) contain NaN/inf: check the model and the data")
                setattr(ds, column, scores.logp.tolist())
        self.reference_seconds = time.perf_counter() - t0
        if self.on_reference_cached is not None:
            self.on_reference_cached(ds)
        return True

    # ------------------------------------------------------------------------------------ forward passes
    @staticmethod
    def _logits(model, group: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return model(input_ids=group["input_ids"], attention_mask=group["attention_mask"], use_cache=False).logits

    @torch.no_grad()
    def _ref_logits(self, group: Mapping[str, torch.Tensor]) -> torch.Tensor:
        with self.reference_context():
            return self._logits(self.reference_model(), group)

    def _ref_logp(self, name: str, group: Mapping[str, torch.Tensor]) -> torch.Tensor:
        if "ref_logp" in group:
            return group["ref_logp"].float()
        if not self._needs_ref_forward:
            raise ValueError(f"the {name} batch has no cached ref_logp; call cache_reference() first")
        return sequence_logprob(self._ref_logits(group), group["labels"], validate=False)

    def loss_inputs(self, model, batch: Mapping[str, Mapping[str, torch.Tensor]]) -> LossInputs:
        """The ``(B,)`` quantities the method needs, group by group (``method.needs_by_group``)."""
        values: dict[str, torch.Tensor] = {}
        needs = self.method.needs_by_group
        for name in [g for g in LossInputs.GROUPS if g in needs]:  # a fixed order: reproducible dropout draws
            wanted = needs[name]
            if name not in batch:
                raise ValueError(f"method {self.method.name} needs {name} data but the batch has no {name!r} group")
            group = batch[name]
            if "n_tokens" in wanted:
                values[LossInputs.field(name, "n_tokens")] = token_count(group["labels"])
            if "ref_logp" in wanted:
                values[LossInputs.field(name, "ref_logp")] = self._ref_logp(name, group)
            if wanted & {"logp", "kl"}:
                logits = self._logits(model, group)
                if "logp" in wanted:
                    values[LossInputs.field(name, "logp")] = sequence_logprob(logits, group["labels"], validate=False)
                if "kl" in wanted:
                    ref = self._ref_logits(group)
                    values[LossInputs.field(name, "kl")] = kl_to_ref(logits, ref, group["labels"], validate=False)
        return LossInputs(**values)

    # ---------------------------------------------------------------------------------------------- loss
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        per_example, parts = self.method.loss(self.loss_inputs(model, inputs), self.loss_settings)
        loss = per_example.mean()
        if model.training:
            with torch.no_grad():
                self._accumulate("loss", loss)
                for name, value in parts.items():
                    self._accumulate(f"loss_{name}", value.mean())
                self._loss_count += 1
        if return_outputs:
            return loss, {"per_example": per_example, **parts}
        return loss

    def _accumulate(self, key: str, value: torch.Tensor) -> None:
        v = value.detach().float()
        self._loss_sums[key] = self._loss_sums[key] + v if key in self._loss_sums else v

    def pop_train_losses(self) -> dict[str, float]:
        """Mean of each loss term over the micro-batches since the last call (this process only); the one host
        sync of the loss path, made at evaluation time."""
        if not self._loss_count:
            return {}
        out = {k: float(v.item()) / self._loss_count for k, v in self._loss_sums.items()}
        self._loss_sums, self._loss_count = {}, 0
        return out
