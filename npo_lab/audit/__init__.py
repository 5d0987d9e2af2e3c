"""Is it really forgotten? Audits of an unlearned model beyond what it answers.

Forget quality and model utility (TOFU) say what a model *answers*; a model that no longer answers may still
*know*. The audits, each against the retain model (trained without the forget authors, the target):

* :mod:`.mia` — membership inference (LOSS, zlib, min-k %, min-k++) of forget vs holdout answers, ROC AUC and
  MUSE's privacy leakage ``privleak`` (Shi et al. 2024, arXiv 2407.06460);
* :mod:`.memorization` — exact memorisation and extraction strength (open-unlearning's definitions);
* :mod:`.attacks` — relearning on half of the forget set (Hu et al. 2024, arXiv 2406.13356), 8/4-bit
  quantization (Zhang et al. 2025, arXiv 2410.16454), paraphrased questions;
* :mod:`.report` — :func:`audit_models` runs them all on several models into one JSON-able result,
  :func:`audit_table` reads it, :func:`demo_audit` writes the demo's ``audit.json``, ``audit.csv`` and figure
  (:func:`demo_audit_entry`: ``npo-lab demo --audit``'s last step);
* :mod:`.figure` — :func:`plot_audit`, models × audits with the retain model as the target.

Example (a prepared mini-TOFU setting and unlearned models)::

    result = audit_models({"finetuned": s.model, "retain": s.retain_model, "NPO": npo_model}, s.tokenizer, s)
    audit_table(result)
"""

# ruff: noqa: F401  (the names below are re-exported: __all__ is the union of the submodules' __all__)
from . import attacks, figure, memorization, mia, report
from .attacks import (
    forget_log,
    forget_metrics,
    paraphrase_probe,
    quantize_model,
    quantize_tensor,
    relearn,
    relearned_copy,
    split_halves,
)
from .figure import FIGURE_METRICS, plot_audit, signal_left
from .memorization import exact_memorization, extraction_strength, memorization_scores
from .mia import (
    ATTACKS,
    AnswerStats,
    answer_stats,
    loss_score,
    mia_aucs,
    mia_scores,
    min_k_plus_plus_score,
    min_k_score,
    privleak,
    roc_auc,
    zlib_score,
)
from .report import (
    AUDIT_FILE,
    AUDITS,
    TABLE_COLUMNS,
    AuditConfig,
    AuditData,
    audit_data,
    audit_model,
    audit_models,
    audit_table,
    demo_audit,
    demo_audit_entry,
    save_audit,
)

__all__ = sorted({*attacks.__all__, *figure.__all__, *memorization.__all__, *mia.__all__, *report.__all__})
