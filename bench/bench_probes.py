"""Benchmark of the per-step probes (`npo_lab.unlearn.probes`): their cost next to an unlearning step.

Usage (from the repository root):

    .venv/bin/python bench/bench_probes.py                 # the demo's seed-0 mini-TOFU models, 1 torch thread
    .venv/bin/python bench/bench_probes.py --threads 2 --retain 64 --general 64

Scores the collapse laboratory's probe rows (the 40 forget rows and fixed samples of retain and general rows)
with the fine-tuned model, and times one NPO training step (batch 8, forward + backward + AdamW) the same way.
Prints wall and CPU seconds of each side by side, their ratio and the 1-minute load average (wall times taken
while other work shares the CPU are pessimistic; CPU seconds are less so). Target: a probe ≤ 0.2 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import time


def _timed(fn, repeats: int) -> tuple[float, float]:
    fn()  # warm-up
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - w0) / repeats, (time.process_time() - c0) / repeats


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--retain", type=int, default=32, help="retain rows in the probe")
    p.add_argument("--general", type=int, default=32, help="general rows in the probe")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    import torch

    from npo_lab.losses import get_method, sequence_logprob
    from npo_lab.minitofu import MiniTofuConfig, prepare
    from npo_lab.tofu.data import encode_qa, pad_batch
    from npo_lab.unlearn.probes import ProbeScorer, sample_rows

    torch.set_num_threads(args.threads)
    s = prepare(MiniTofuConfig(seed=args.seed), "forget10", progress=False, check=False)
    groups = {
        "forget": s.forget_rows,
        "retain": sample_rows(s.retain_rows, args.retain),
        "general": sample_rows(s.general_rows(), args.general),
    }
    scorer = ProbeScorer(s.tokenizer, groups, max_length=s.config.max_length)
    model = s.fresh_model()
    ref = scorer.logp(model)[scorer.slices["forget"]]
    probe_wall, probe_cpu = _timed(lambda: scorer.row(scorer.logp(model), ref_logp=ref, beta=0.1), args.repeats)

    feats = [encode_qa(s.tokenizer, r["question"], r["answer"], "qa", s.config.max_length) for r in s.forget_rows[:8]]
    batch = pad_batch(feats, s.tokenizer.pad_token_id)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    method = get_method("NPO")
    from npo_lab.losses import LossInputs

    ref8 = ref[:8]

    def step():
        model.train()
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        logp = sequence_logprob(logits, batch["labels"])
        loss = method.loss(LossInputs(forget_logp=logp, forget_ref_logp=ref8), beta=0.1)[0].mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad()

    step_wall, step_cpu = _timed(step, args.repeats)
    n = sum(len(v) for v in groups.values())
    print(f"probe rows: {n} ({', '.join(f'{k} {len(v)}' for k, v in groups.items())}), torch threads {args.threads}")
    print(f"{'':22s}{'wall s':>10s}{'CPU s':>10s}")
    print(f"{'probe':22s}{probe_wall:10.4f}{probe_cpu:10.4f}")
    print(f"{'NPO step (batch 8)':22s}{step_wall:10.4f}{step_cpu:10.4f}")
    print(f"probe / step: wall {probe_wall / step_wall:.2f}, CPU {probe_cpu / step_cpu:.2f}")
    print(f"load average (1, 5, 15 min): {', '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
