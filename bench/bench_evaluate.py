"""One full TOFU evaluation of the mini-TOFU fine-tuned model: today's plain path vs the fast path, side by side.

Both are ``npo_lab.tofu.evaluate.evaluate`` on the same model and rows (the demo's settings: forget10, at most 300
rows per split, batch size 32, max_length from the config): ``engine="reference"`` (one right-padded forward per
answer with its prompt, log-softmax everywhere, ``model.generate``) and ``engine="fast"`` (one pass per question
holding its prompt and the prefix tree of its 2 + K answers, length-sorted passes, one log-softmax per distinct
answer prefix, greedy answers read off the scoring pass and finished with a key/value-cache loop). Rounds
alternate the two; the script prints wall and CPU seconds per round, the median ratio, the load average, and checks
that the logs agree (losses within 1e-5, identical generations).

Run: .venv/bin/python bench/bench_evaluate.py [--rounds 3] [--threads 1]
(the first run trains and caches the mini-TOFU models, as ``npo-lab demo`` does; later runs load them)
"""

import argparse
import os
import statistics
import time

import numpy as np
import torch

from npo_lab.minitofu import MiniTofuConfig, prepare
from npo_lab.tofu.evaluate import evaluate

MEAN_FIELDS = ("avg_gt_loss", "avg_paraphrased_loss", "average_perturb_loss")  # mean NLL per answer token
SUM_FIELDS = ("gt_loss", "paraphrased_loss", "perturb_loss")  # summed NLL per answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: comparable on a shared machine)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    setting = prepare(MiniTofuConfig(), "forget10", progress=False, check=False)
    kw = dict(
        source=setting.source_dir,
        forget_split="forget10",
        template=setting.config.template,
        max_rows=300,
        batch_size=32,
        progress=False,
        max_length=setting.config.max_length,
    )
    model, tok = setting.model.eval(), setting.tokenizer
    logs = {engine: evaluate(model, tok, engine=engine, **kw) for engine in ("reference", "fast")}  # warm-up
    n_rows = {k: len(v["avg_gt_loss"]) for k, v in logs["fast"].items()}
    print(f"mini-TOFU fine-tuned model, {sum(n_rows.values())} questions {n_rows}, threads {args.threads}")
    times = {"reference": [], "fast": []}
    for r in range(args.rounds):
        for engine in ("reference", "fast"):
            w, c = time.perf_counter(), time.process_time()
            logs[engine] = evaluate(model, tok, engine=engine, **kw)
            times[engine].append((time.perf_counter() - w, time.process_time() - c))
        (rw, rc), (fw, fc) = times["reference"][-1], times["fast"][-1]
        print(
            f"round {r + 1}: today's path {rw:.2f} s wall ({rc:.2f} s CPU)   fast path {fw:.2f} s wall ({fc:.2f} s CPU)"
            f"   speed-up {rw / fw:.1f}x wall, {rc / fc:.1f}x CPU   (load average {os.getloadavg()[0]:.2f})"
        )
    med = {e: [statistics.median(t[i] for t in times[e]) for i in (0, 1)] for e in times}
    print(
        f"median: today's path {med['reference'][0]:.2f} s, fast path {med['fast'][0]:.2f} s wall -> "
        f"{med['reference'][0] / med['fast'][0]:.1f}x ({med['reference'][1] / med['fast'][1]:.1f}x in CPU time); "
        f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs"
    )
    worst, rel, same = 0.0, 0.0, True
    for key, sec in logs["fast"].items():
        ref = logs["reference"][key]
        for field in MEAN_FIELDS:
            worst = max(worst, float(np.abs(np.array(sec[field]) - np.array(ref[field])).max()))
        for field in SUM_FIELDS:
            a, b = np.array(sec[field]), np.array(ref[field])
            rel = max(rel, float((np.abs(a - b) / np.maximum(np.abs(b), 1.0)).max()))
        same &= [g[1] for g in sec["generated_text"]] == [g[1] for g in ref["generated_text"]]
    print(f"logs agree: max |Δ mean NLL| {worst:.1e}, max relative Δ summed NLL {rel:.1e}, same generations: {same}")
    assert worst <= 1e-5 and rel <= 1e-5 and same, "the fast path changed the numbers"


if __name__ == "__main__":
    main()
