"""Forget KL: how far unlearning moved the model on the forget set, as an evaluation metric.

``forget KL = mean over forget rows of (1/|y|) Σ_t KL(π_ref(·|y_<t, x) ‖ π_θ(·|y_<t, x))`` over the answer tokens
(:func:`npo_lab.losses.kl_to_ref`), with π_ref the fine-tuned model before unlearning. Gradient ascent drives it
up without bound; NPO's adaptive weight makes it level off (paper arXiv 2404.05868, Sec. 5 and Fig. 10, on TOFU).

:class:`ForgetKL` is a metric ``metric(model) -> float`` of the kind the evaluation of unlearning accepts
(``unlearn(..., eval_metrics={"forget_kl": metric})``): its values land in the run's ``metrics.jsonl`` rows.
Both passes go through :func:`npo_lab.scoring.iter_forward` (batched, no grad, eval mode).

The same forward pass gives each forget row's log-ratio ``log π_θ(y|x) − log π_ref(y|x)`` (summed answer
log-probs, :func:`npo_lab.losses.sequence_logprob`), the quantity NPO's adaptive weight
``W = 2σ(β · log-ratio)`` reads (paper Sec. 4); :attr:`ForgetKL.log_ratios` keeps one list per call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from ..losses import kl_to_ref, sequence_logprob
from ..scoring import iter_forward

__all__ = ["ForgetKL", "forget_kl", "LOG_RATIOS_FILE"]

LOG_RATIOS_FILE = "forget_log_ratios.json"  # per run record: the forget rows' log-ratios at each evaluation


class ForgetKL:
    """``E_forget KL(π_ref ‖ π_θ)`` (answer tokens) of a model against ``ref_model``, computed on call.

    The reference logits are computed once, here, and kept on the CPU (rows × length × vocabulary floats: a few
    MB for the mini-TOFU models). ``metric(model)`` runs the same batches through ``model`` and returns the mean;
    it also appends the rows' log-ratios ``log π_θ − log π_ref`` (a list of N floats) to :attr:`log_ratios`.
    """

    def __init__(self, ref_model, tokenizer, rows: Sequence[Mapping], *, batch_size: int = 32, **options):
        """``options``: ``template``, ``max_length``, ``device``, ``context`` of
        :class:`npo_lab.scoring.ForwardOptions` (the rows' fields are ``question`` and ``answer``)."""
        self.rows = [{"question": r["question"], "answer": r["answer"]} for r in rows]
        if not self.rows:
            raise ValueError("rows is empty: the forget KL needs at least one forget row")
        self.tokenizer = tokenizer
        self.options = {"batch_size": batch_size, **options}
        self.ref_logits, self.ref_logp = [], []
        for batch, logits in self._forward(ref_model):
            self.ref_logits.append(logits.float().cpu())
            self.ref_logp.append(sequence_logprob(logits.float(), batch["labels"]).cpu())
        self.log_ratios: list[list[float]] = []

    def _forward(self, model):
        return iter_forward(model, self.tokenizer, self.rows, **self.options)

    def __call__(self, model) -> float:
        total, n, ratios = 0.0, 0, []
        for (batch, logits), ref, ref_logp in zip(self._forward(model), self.ref_logits, self.ref_logp, strict=True):
            kl = kl_to_ref(logits.float(), ref.to(logits.device), batch["labels"])
            total += float(kl.sum())
            n += kl.numel()
            ratios += (sequence_logprob(logits.float(), batch["labels"]).cpu() - ref_logp).tolist()
        self.log_ratios.append(ratios)
        return total / n

    def write_log_ratios(self, run_dir: str | Path) -> None:
        """``<run>/forget_log_ratios.json``: ``[{"step", "epoch", "log_ratios": [...]}]``, one entry per evaluation
        (the i-th call of this metric belongs to the i-th row of the run's ``metrics.jsonl``); nothing without one."""
        from ..files import write_json
        from ..runs import METRICS_FILE, load_run

        run_dir = Path(run_dir)
        if not (run_dir / METRICS_FILE).exists():
            return
        rows = [
            {"step": int(r["step"]), "epoch": float(r["epoch"]), "log_ratios": lr}
            for (_, r), lr in zip(load_run(run_dir).iterrows(), self.log_ratios)
        ]
        write_json(run_dir / LOG_RATIOS_FILE, rows, indent=None)


def forget_kl(model, ref_model, tokenizer, rows: Sequence[Mapping], **options) -> float:
    """``E_forget KL(π_ref ‖ π_θ)`` of ``model`` against ``ref_model`` on ``rows`` (see :class:`ForgetKL`, which
    takes the ``options``: ``template``, ``max_length``, ``batch_size``, ...)."""
    return ForgetKL(ref_model, tokenizer, rows, **options)(model)
