"""``npo-lab audit MODEL_OR_RUN [...] --reference RETAIN_MODEL [--finetuned MODEL] [--data SOURCE] --out audit.json``.

Runs every audit of :mod:`npo_lab.audit` (membership inference and privleak, extraction strength, relearning,
quantization, paraphrased questions) on each model against the retain model and writes one JSON result
(``pandas.DataFrame(json.load(f)["models"]).T`` reads it). A model is a model directory (``save_pretrained``) or
an unlearning run directory whose final weights were saved (``model/``, ``--save-model``). Every setting, the
output path and the device are checked before any model is loaded; user errors raise ``ValueError`` (one line
from ``npo-lab``, exit status 2).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import UsageError
from ..files import check_out_file
from ..runtime import resolve_device
from ..tofu.splits import FORGET_SPLITS
from ..tofu.templates import TEMPLATES
from .options import positive_int

__all__ = ["add_arguments", "run", "resolve_model_dir"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..audit import ATTACKS, AUDITS, AuditConfig

    d = AuditConfig()
    parser.add_argument("models", nargs="+", metavar="MODEL_OR_RUN", help="model or unlearning-run directories")
    parser.add_argument("--reference", required=True, metavar="RETAIN_MODEL", help="the retain model (the target)")
    parser.add_argument("--finetuned", default=None, metavar="MODEL", help="the fine-tuned model, audited too")
    parser.add_argument("--tokenizer", default=None, metavar="PATH", help="tokenizer (default: --reference's)")
    parser.add_argument(
        "--data",
        default=None,
        metavar="SOURCE",
        help="TOFU source: a directory, 'hub' or 'synthetic' (default: $NPO_LAB_TOFU_DIR, else synthetic)",
    )
    parser.add_argument("--forget", default="forget10", choices=FORGET_SPLITS, help="forget split (default forget10)")
    parser.add_argument("--template", default=None, choices=list(TEMPLATES), help="prompt template (default: guessed)")
    parser.add_argument("--audits", nargs="+", default=list(AUDITS), choices=AUDITS, help="audits to run (all)")
    parser.add_argument("--attack", default=d.attack, choices=ATTACKS, help=f"MIA of 'auc' (default {d.attack})")
    parser.add_argument(
        "--privleak-attack", default=d.privleak_attack, choices=ATTACKS, help=f"MIA of 'privleak' ({d.privleak_attack})"
    )
    parser.add_argument("--max-rows", type=positive_int, default=None, metavar="N", help="rows per set (all)")
    parser.add_argument("--relearn-steps", type=positive_int, default=d.relearn_steps, metavar="K")
    parser.add_argument("--relearn-lr", type=float, default=d.relearn_learning_rate, metavar="LR")
    parser.add_argument("--relearn-batch-size", type=positive_int, default=d.relearn_batch_size, metavar="B")
    parser.add_argument("--bits", type=positive_int, nargs="+", default=list(d.bits), help="quantization bits")
    parser.add_argument("--group-size", type=positive_int, default=d.group_size, help="quantization group size")
    parser.add_argument("--seed", type=int, default=d.seed, help="seed of the relearning halves and batches")
    parser.add_argument("--batch-size", type=positive_int, default=d.batch_size, help="rows per forward pass")
    parser.add_argument("--max-length", type=positive_int, default=d.max_length, help="tokens per QA pair")
    parser.add_argument("--no-generate", action="store_true", help="skip the greedy answers (paraphrase ROUGE)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps ... (default: cuda if available)")
    parser.add_argument("--out", required=True, metavar="JSON", help="output file (the audit result)")
    parser.add_argument("--figure", default=None, metavar="PNG", help="also write the models × audits figure")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it already exists")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def resolve_model_dir(path: str, what: str = "model") -> Path:
    """A model directory: ``path`` itself (it has ``config.json``) or ``path/model`` of an unlearning run."""
    p = Path(path).expanduser()
    if not p.is_dir():
        raise FileNotFoundError(f"{what} {path!r} is not a directory (give a model or an unlearning-run directory)")
    if (p / "config.json").is_file() and not (p / "summary.json").is_file():
        return p
    if (p / "model" / "config.json").is_file():
        return p / "model"
    if (p / "summary.json").is_file():
        raise UsageError(f"{what} {path!r} is an unlearning run without saved weights; rerun it with --save-model")
    raise UsageError(f"{what} {path!r} holds no model (no config.json, no model/ of an unlearning run)")


def _name(path: str, resolved: Path, taken: set[str]) -> str:
    name = Path(path).expanduser().resolve().name if resolved.name != "model" else resolved.parent.name
    cfg = resolved.parent / "config.json"
    if resolved.name == "model" and cfg.is_file():
        try:
            name = str(json.loads(cfg.read_text(encoding="utf-8")).get("method") or name)
        except (OSError, ValueError):
            pass
    base, i = name, 2
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    return name


def _load(path: Path, device):
    from transformers import AutoModelForCausalLM

    try:
        model = AutoModelForCausalLM.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot load model {str(path)!r}: {str(exc).splitlines()[0]}") from None
    return model.to(device).eval()


def _plan(args) -> dict[str, Path]:
    """``{name: model directory}``: the reference first (named ``retain``), then ``--finetuned``, then the rest."""
    plan = {"retain": resolve_model_dir(args.reference, "--reference")}
    if args.finetuned:
        plan["finetuned"] = resolve_model_dir(args.finetuned, "--finetuned")
    for m in args.models:
        resolved = resolve_model_dir(m)
        plan[_name(m, resolved, set(plan))] = resolved
    return plan


def run(args: argparse.Namespace) -> int:
    from ..audit import AuditConfig, audit_data, audit_models, audit_table, plot_audit, save_audit
    from ..tofu.templates import guess_template

    out = check_out_file(args.out, overwrite=args.overwrite, example="audit.json")
    figure = (
        check_out_file(args.figure, overwrite=args.overwrite, what="--figure", example="audit.png")
        if args.figure
        else None
    )
    device = resolve_device(args.device)
    cfg = AuditConfig(
        audits=tuple(args.audits),
        attack=args.attack,
        privleak_attack=args.privleak_attack,
        relearn_steps=args.relearn_steps,
        relearn_learning_rate=args.relearn_lr,
        relearn_batch_size=args.relearn_batch_size,
        seed=args.seed,
        bits=tuple(args.bits),
        group_size=args.group_size,
        max_rows=args.max_rows,
        batch_size=args.batch_size,
        max_length=args.max_length,
        generate=not args.no_generate,
        template=args.template or "qa",
    )
    plan = _plan(args)
    data = audit_data(args.data, args.forget)  # bad data fails here, before any model is loaded
    from transformers import AutoTokenizer

    tok_path = args.tokenizer or str(plan["retain"])
    try:
        tokenizer = AutoTokenizer.from_pretrained(tok_path)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot load tokenizer {tok_path!r}: {str(exc).splitlines()[0]}") from None
    if args.template is None:
        cfg = AuditConfig(**{**cfg.to_dict(), "template": guess_template(args.reference, tokenizer)})
    models = {name: _load(path, device) for name, path in plan.items()}
    result = audit_models(models, tokenizer, data, reference="retain", config=cfg, progress=not args.no_progress)
    result["model_paths"] = {name: str(path) for name, path in plan.items()}
    save_audit(result, out)
    if figure is not None:
        plot_audit(result).savefig(figure, dpi=120, bbox_inches="tight")
    print(audit_table(result).to_string(float_format=lambda x: f"{x:.3g}"))
    print(f"wrote {out} ({result['total_seconds']:.1f}s)")
    return 0
