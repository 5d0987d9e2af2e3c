"""The audit figure: models × audits, coloured by how far each number still is from the retain model's.

For metric ``m`` of model ``M``, the colour is the share of the fine-tuned model's signal that is left,

    ``r = (m_M − m_retain) / (m_finetuned − m_retain)``,

0 = as the retain model (the target of unlearning), 1 = as the fine-tuned model (nothing forgotten), below 0 =
beyond the retain model (over-unlearning, itself detectable). The cells are annotated with the raw numbers.
Without a fine-tuned model in the result the colour is the plain difference ``m_M − m_retain``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .table import audit_table

__all__ = ["FIGURE_METRICS", "signal_left", "plot_audit"]

FIGURE_METRICS: dict[str, str] = {
    "auc": "MIA AUC",
    "extraction_strength": "extraction\nstrength",
    "forget_probability": "forget\nprobability",
    "relearn_forget_probability": "after\nrelearning",
    "quant8_forget_probability": "after 8-bit\nquantization",
    "quant4_forget_probability": "after 4-bit\nquantization",
    "paraphrase_probability": "paraphrased\nquestions",
}


def signal_left(result: Mapping, metrics: Sequence[str], finetuned: str | None = "finetuned"):
    """``(values, shares)``: DataFrames (models × metrics) of the raw numbers and of ``r`` (module docstring);
    ``r`` is NaN where a number is missing or the fine-tuned and retain models agree (no signal to remove)."""
    values = audit_table(result, None).reindex(columns=list(metrics)).astype(float)
    ref = values.loc[result["reference"]]
    if finetuned is not None and finetuned in values.index:
        span = values.loc[finetuned] - ref
        span = span.where(span.abs() > 1e-12)
        return values, (values - ref) / span
    return values, values - ref


def plot_audit(result: Mapping, metrics: Mapping[str, str] | None = None, *, finetuned: str = "finetuned", ax=None):
    """Heatmap of :func:`signal_left` (rows: models, columns: audits), annotated with the raw numbers."""
    import matplotlib.pyplot as plt

    metrics = dict(metrics or FIGURE_METRICS)
    values, shares = signal_left(result, list(metrics), finetuned)
    keep = [m for m in metrics if values[m].notna().any()]
    values, shares = values[keep], shares[keep]
    if ax is None:
        _, ax = plt.subplots(figsize=(1.25 * len(keep) + 2.2, 0.5 * len(values) + 1.6))
    relative = finetuned in values.index
    lim = 1.25 if relative else max(float(np.nanmax(np.abs(shares.to_numpy()))), 1e-9)
    im = ax.imshow(np.clip(shares.to_numpy(), -lim, lim), cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            v = values.iat[i, j]
            ax.text(j, i, "–" if np.isnan(v) else f"{v:.2f}", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(keep)), [metrics[m] for m in keep], fontsize=8)
    ax.set_yticks(range(len(values)), list(values.index))
    ref = result["reference"]
    label = f"(m − m_{ref}) / (m_{finetuned} − m_{ref})" if relative else f"m − m_{ref}"
    ax.figure.colorbar(im, ax=ax, label=label, shrink=0.8)
    ax.set_title(f"Is it forgotten? 0 = like the {ref} model, 1 = like the {finetuned} model", fontsize=10)
    return ax.figure
