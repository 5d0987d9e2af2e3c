"""``npo-lab evaluate --model PATH [--data SOURCE] [--forget SPLIT] [--max-rows N] --out LOG``.

Runs a causal LM over the TOFU eval splits (:func:`npo_lab.tofu.evaluate.evaluate`) and writes the eval log
(TOFU's ``eval_log_aggregated.json`` layout). Every setting, the output path and the device are checked before
the model is loaded; user errors raise ``ValueError`` (one line from ``npo-lab``, exit status 2).
"""

from __future__ import annotations

import argparse

from ..errors import UsageError
from ..files import check_out_file
from ..runtime import resolve_device
from ..tofu.logs import SECTIONS
from ..tofu.splits import FORGET_SPLITS
from ..tofu.templates import TEMPLATES
from .options import positive_int

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", required=True, metavar="PATH", help="model directory or hub name (loaded with AutoModelForCausalLM)"
    )
    parser.add_argument("--tokenizer", default=None, metavar="PATH", help="tokenizer (default: --model)")
    parser.add_argument(
        "--data",
        default=None,
        metavar="SOURCE",
        help="TOFU source: a directory of JSON-lines files, 'hub' or 'synthetic' "
        "(default: $NPO_LAB_TOFU_DIR, else synthetic)",
    )
    parser.add_argument("--forget", default="forget10", choices=FORGET_SPLITS, help="forget split (default forget10)")
    parser.add_argument(
        "--max-rows", type=positive_int, default=300, metavar="N", help="rows per eval split (default 300)"
    )
    parser.add_argument(
        "--template",
        default=None,
        choices=list(TEMPLATES),
        help="prompt template (default: the checkpoint's own, or guessed from the model name)",
    )
    parser.add_argument("--batch-size", type=positive_int, default=16, help="questions per batch (default 16)")
    parser.add_argument(
        "--max-new-tokens", type=positive_int, default=None, help="generation length (default: longest answer + 16)"
    )
    parser.add_argument("--splits", nargs="+", default=None, choices=list(SECTIONS), help="subset of eval sets")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps ... (default: cuda if available)")
    parser.add_argument(
        "--dtype",
        default="auto",
        choices=["auto", "float32", "bfloat16", "float16"],
        help="model weights dtype (default auto)",
    )
    parser.add_argument("--out", required=True, metavar="LOG", help="output eval log (JSON, TOFU layout)")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it already exists")


def _load(args, device):
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = args.dtype if args.dtype == "auto" else getattr(torch, args.dtype)
    # transformers >= 4.56 names the argument ``dtype``; older versions only know ``torch_dtype``
    new_api = tuple(int(x) for x in transformers.__version__.split(".")[:2]) >= (4, 56)
    try:
        tokenizer = AutoTokenizer.from_pretrained(args.tokenizer or args.model)
        model = AutoModelForCausalLM.from_pretrained(args.model, **{"dtype" if new_api else "torch_dtype": dtype})
    except OSError as exc:
        raise UsageError(f"cannot load --model {args.model!r}: {str(exc).splitlines()[0]}") from None
    return model.to(device), tokenizer


def run(args: argparse.Namespace) -> int:
    from ..tofu.data import resolve_source
    from ..tofu.evaluate import evaluate
    from ..tofu.logs import save_eval_log
    from ..tofu.metrics import summarize
    from ..tofu.templates import guess_template

    out = check_out_file(args.out, overwrite=args.overwrite, example="eval_log.json")
    device = resolve_device(args.device)
    resolve_source(args.data)  # a bad --data fails here, before the model is loaded
    model, tokenizer = _load(args, device)
    template = args.template or guess_template(args.model, tokenizer)
    log = evaluate(
        model,
        tokenizer,
        source=args.data,
        forget_split=args.forget,
        template=template,
        max_rows=args.max_rows,
        batch_size=args.batch_size,
        max_new_tokens=args.max_new_tokens,
        device=device,
        splits=args.splits,
    )
    path = save_eval_log(log, out)
    print(f"wrote {path}")
    if args.splits is None:
        s = summarize(log)
        print(
            f"model utility {s['model_utility']:.4f}; forget probability {s['forget_probability']:.4f}, "
            f"ROUGE-L {s['forget_rouge']:.4f}, truth ratio {s['forget_truth_ratio']:.4f} (n={s['n_forget']})"
        )
    return 0
