"""Step time of NPO and NPO+RT with cached reference log-probs vs a reference model recomputing them every step.

The published NPO/TOFU code keeps a frozen reference model and runs it on the forget batch at every step. The
reference log-probs of the forget answers never change, so ``npo_lab.unlearn`` computes them once before training
and stores them with the dataset. Counting a backward as two forwards, a step costs

    NPO:     cached 1 fwd + 1 bwd = 3 units   vs  recomputed 1 ref fwd + 3 = 4 units   → ratio 0.75
    NPO+RT:  cached 2 × 3     = 6 units        vs  recomputed 6 + 1       = 7 units    → ratio 0.86

This script times both ways with the same engine (``Unlearner.compute_loss`` with ``cache_reference=True`` vs
``False``), the same tiny Llama-style model (identical initial weights), the same batches, AdamW steps included,
repetitions interleaved (A B, then B A, ...) so that machine noise hits both. It prints median step times and the
ratios side by side, and checks that both ways give the same losses.

    python bench/bench_ref_cache.py --threads 1           # hidden 512, 4 layers, seq 128, batch 8
    python bench/bench_ref_cache.py --hidden 256 --reps 20
    python bench/bench_ref_cache.py --device cuda --hidden 1024 --layers 8 --batch 16

The one-off cost of the cache (a no-grad forward over the forget set) is reported too; it is paid once per run,
whereas the recomputation is paid every step of every epoch.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import tempfile
import time

import torch

from npo_lab.losses import get_method, sequence_logprob
from npo_lab.minitofu import tiny_llama, train_tokenizer
from npo_lab.unlearn import ForgetRetainDataset, UnlearnConfig, Unlearner, training_arguments

UNITS = {"NPO": (3, 4), "NPO+RT": (6, 7)}


def make_batches(n: int, batch: int, seq: int, vocab: int, prompt: int, seed: int, groups=("forget", "retain")):
    """Random token batches of a fixed length, in the collator's layout ``{group: {input_ids, attention_mask,
    labels}}``; labels = -100 on the first ``prompt`` tokens."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        b = {}
        for group in groups:
            ids = torch.randint(4, vocab, (batch, seq), generator=g)
            labels = ids.clone()
            labels[:, :prompt] = -100
            b[group] = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}
        out.append(b)
    return out


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--vocab", type=int, default=2048)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--reps", type=int, default=10, help="timed steps per variant (after --warmup)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--methods", nargs="+", default=["NPO", "NPO+RT"], choices=list(UNITS))
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    tok = train_tokenizer(["the quick brown fox jumps over the lazy dog"] * 20, vocab_size=300)
    base = tiny_llama(
        vocab_size=args.vocab,
        hidden_size=args.hidden,
        num_layers=args.layers,
        num_heads=args.heads,
        max_position_embeddings=max(512, args.seq),
        seed=0,
    )
    n_params = sum(p.numel() for p in base.parameters())
    n_steps = args.warmup + args.reps
    batches = make_batches(n_steps, args.batch, args.seq, args.vocab, prompt=args.seq // 4, seed=1)
    print(
        f"model: Llama hidden {args.hidden}, {args.layers} layers, vocab {args.vocab}, {n_params / 1e6:.1f} M params;"
        f" batch {args.batch} x seq {args.seq}; device {device}, {torch.get_num_threads()} threads;"
        f" {args.warmup} warm-up + {args.reps} timed steps per variant, interleaved"
    )

    results = {}
    tmp = tempfile.mkdtemp(prefix="bench_ref_cache_")
    rows = [{"question": "q", "answer": "a"}] * 4
    for name in args.methods:
        method = get_method(name)
        trainers = {}
        for cached in (True, False):
            cfg = UnlearnConfig(
                method=name,
                output_dir=f"{tmp}/{name}_{cached}",
                forget_quality=False,
                disable_tqdm=True,
                learning_rate=1e-5,
            )
            targs = training_arguments(cfg, len(rows), use_cpu=device.type == "cpu")
            ds = ForgetRetainDataset(rows, rows, seed=0)
            model = copy.deepcopy(base).to(device)
            tr = Unlearner(model, targs, method=method, train_dataset=ds, tokenizer=tok, cache_reference=cached)
            tr.model.to(device)
            if tr.ref_model is not None:
                tr.ref_model.to(device)
            opt = torch.optim.AdamW(tr.model.parameters(), lr=1e-5, weight_decay=0.01)
            trainers[cached] = (tr, opt)
        # the cache: one no-grad forward over the forget rows with the initial model (timed, paid once per run)
        tr_c = trainers[True][0]
        t0 = time.perf_counter()
        with torch.no_grad():
            tr_c.model.eval()
            ref = []
            for b in batches:
                logits = tr_c.model(
                    input_ids=b["forget"]["input_ids"].to(device),
                    attention_mask=b["forget"]["attention_mask"].to(device),
                ).logits
                ref.append(sequence_logprob(logits, b["forget"]["labels"].to(device)))
            tr_c.model.train()
        _sync(device)
        cache_s = (time.perf_counter() - t0) / len(batches)
        groups = method.needs_by_group
        dev_batches = [{g: {k: v.to(device) for k, v in b[g].items()} for g in b if g in groups} for b in batches]
        times = {True: [], False: []}
        losses = {True: [], False: []}
        for i, b in enumerate(dev_batches):
            order = (True, False) if i % 2 == 0 else (False, True)
            for cached in order:
                tr, opt = trainers[cached]
                inputs = {g: dict(v) for g, v in b.items()}
                if cached:
                    inputs["forget"]["ref_logp"] = ref[i]
                _sync(device)
                t0 = time.perf_counter()
                loss = tr.compute_loss(tr.model, inputs)
                loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
                _sync(device)
                if i >= args.warmup:
                    times[cached].append(time.perf_counter() - t0)
                losses[cached].append(float(loss.detach()))
        assert not trainers[True][0].holds_ref_model and trainers[False][0].holds_ref_model
        med_c, med_r = statistics.median(times[True]), statistics.median(times[False])
        min_c, min_r = min(times[True]), min(times[False])
        max_diff = max(abs(a - b) for a, b in zip(losses[True], losses[False]))
        results[name] = {
            "cached_step_s": med_c,
            "recomputed_step_s": med_r,
            "ratio": med_c / med_r,
            "cached_min_s": min_c,
            "recomputed_min_s": min_r,
            "ratio_min": min_c / min_r,
            "expected_ratio": UNITS[name][0] / UNITS[name][1],
            "cache_s_per_batch": cache_s,
            "max_loss_diff": max_diff,
            "cached_times": times[True],
            "recomputed_times": times[False],
        }
    print()
    print("median / fastest step time in seconds; ratio = cached / recomputed (lower is better)")
    print(
        f"{'method':8s} {'cached':>8s} {'recomputed':>11s} {'ratio':>7s}  {'cached':>8s} {'recomputed':>11s}"
        f" {'ratio':>7s}  {'expected':>8s} {'cache once/batch':>17s} {'max |Δloss|':>12s}"
    )
    print(f"{'':8s} {'(median)':>8s} {'(median)':>11s} {'':>7s}  {'(min)':>8s} {'(min)':>11s}")
    for name, r in results.items():
        print(
            f"{name:8s} {r['cached_step_s']:8.4f} {r['recomputed_step_s']:11.4f} {r['ratio']:7.3f}"
            f"  {r['cached_min_s']:8.4f} {r['recomputed_min_s']:11.4f} {r['ratio_min']:7.3f}"
            f"  {r['expected_ratio']:8.3f} {r['cache_s_per_batch']:17.4f} {r['max_loss_diff']:12.2e}"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "n_params": n_params, "results": results}, f, indent=2)
    return results


if __name__ == "__main__":
    main()
