"""Experiments: the mini-TOFU demo (``npo-lab demo``, ``make demo``, notebooks 06 and 07) and its reports.

* :mod:`.demo_config` — :class:`DemoConfig`: the demo's settings, its defaults with the paper's beside them;
* :mod:`.minitofu_demo` — :func:`run_demo`: prepare the tiny models, evaluate them, unlearn with several
  methods (probed after every step), write the reports;
* :mod:`.claims` — the paper's claims computed on a demo's numbers (reproduces / does not at this scale);
* :mod:`.forget_kl` — the forget KL ``E_forget KL(π_ref ‖ π_θ)``, an extra metric of every evaluation;
* :mod:`.reports` — ``demo_summary.json``, the results and answers tables, the figures (no model needed).

A demo directory (``--out``, default ``runs/demo``) holds::

    demo.json               what was run: the DemoConfig ("config": give the file back to --config), the defaults
                            with the paper's settings and the reason ("defaults"), torch's threads, the CPU and
                            the versions ("environment"), the mini-TOFU models' config and cache log, per-method
                            status and seconds, skipped methods, status (running / completed / interrupted)
    demo_summary.json       the results, per method (format in npo_lab.experiments.reports)
    runs/<method>/          one run record per method (npo_lab.runs: config.json, metrics.jsonl with forget_kl,
                            samples.jsonl, summary.json) and forget_log_ratios.json (per evaluation: step, epoch,
                            the forget rows' log π_θ − log π_ref) and probes.jsonl (every step: forget, retain
                            and general rows' probability, NPO's W; marked steps); NPO+RT is written NPO_RT
    eval_logs/retain.json, eval_logs/finetuned.json   TOFU eval logs of the two reference models
    answers_finetuned.json  the fine-tuned model's sample answers
    table.csv, answers.csv, answers.md, figures/*.png  the reports (utility_vs_step.png: collapse points)
    audit.json, audit.csv, figures/audit.png           with --audit: npo_lab.audit of the fine-tuned, retain
                            and unlearned models (demo_summary.json's "audit": status and headline numbers)

A run record's ``summary.json`` describes one unlearning run; ``demo_summary.json`` compares the methods of a demo.
"""

from .claims import CLAIMS, claims_table, demo_claims, seed_table
from .demo_config import (
    DEFAULTS_REASON,
    DEMO_DEFAULTS,
    DEMO_METHODS,
    OPTIONAL_METHODS,
    PAPER_ALPHA,
    PAPER_SETTINGS,
    PRESETS,
    DemoConfig,
    environment,
)
from .forget_kl import ForgetKL, forget_kl
from .minitofu_demo import (
    DEMO_FILE,
    check_data,
    check_device,
    check_out_dir,
    reference_logs,
    run_demo,
)
from .reports import (
    DEMO_SUMMARY_FILE,
    answers_table,
    format_table,
    load_demo,
    method_probes,
    repetition_rate,
    results_table,
    summarize_runs,
    write_figures,
)

__all__ = [
    "CLAIMS",
    "DEFAULTS_REASON",
    "DEMO_DEFAULTS",
    "PAPER_SETTINGS",
    "claims_table",
    "demo_claims",
    "environment",
    "method_probes",
    "seed_table",
    "DEMO_FILE",
    "DEMO_METHODS",
    "DEMO_SUMMARY_FILE",
    "OPTIONAL_METHODS",
    "PAPER_ALPHA",
    "PRESETS",
    "DemoConfig",
    "ForgetKL",
    "answers_table",
    "check_data",
    "check_device",
    "check_out_dir",
    "forget_kl",
    "format_table",
    "load_demo",
    "reference_logs",
    "repetition_rate",
    "results_table",
    "run_demo",
    "summarize_runs",
    "write_figures",
]
