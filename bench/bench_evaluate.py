"""Batched evaluate() vs a one-answer-at-a-time loop on a ~1M-param tiny Llama (mini-TOFU sizes); target >= 3x.

Run: .venv/bin/python bench/bench_evaluate.py   (prints both times and the ratio, measured side by side, twice)
"""

import os
import time

import numpy as np
import torch

from npo_lab.minitofu import tiny_llama, train_tokenizer
from npo_lab.tofu.data import encode_prompt, encode_qa, load_tofu
from npo_lab.tofu.evaluate import eval_splits, evaluate
from npo_lab.tofu.metrics import rouge_l_recall

torch.set_num_threads(1)
SRC = "synthetic"
N = 40
rows_all = {k: load_tofu(s, SRC).to_list()[:N] for k, s in eval_splits("forget10").items()}
texts = [r["question"] + " " + r["answer"] for rs in rows_all.values() for r in rs]
tok = train_tokenizer(texts * 3, vocab_size=2048)
model = tiny_llama(tok, hidden_size=128, num_layers=2).eval()
print("params", sum(p.numel() for p in model.parameters()), {k: len(v) for k, v in rows_all.items()})


def naive():
    out = {}
    for key, rows in rows_all.items():
        losses, gens = [], []
        for r in rows:
            answers = [r["answer"], r.get("paraphrased_answer") or r["answer"], *r["perturbed_answer"]]
            row = []
            for a in answers:
                enc = encode_qa(tok, r["question"], a)
                with torch.no_grad():
                    res = model(input_ids=torch.tensor([enc["input_ids"]]), labels=torch.tensor([enc["labels"]]))
                row.append(float(res.loss))
            losses.append(row)
            ids = torch.tensor([encode_prompt(tok, r["question"])])
            mx = max(len(tok(x["answer"])["input_ids"]) for x in rows) + 16  # per row, as the first version
            with torch.no_grad():
                g = model.generate(ids, max_new_tokens=mx, do_sample=False, pad_token_id=tok.pad_token_id)
            gens.append(tok.decode(g[0, ids.shape[1] :], skip_special_tokens=True))
        rouge_l_recall(gens, [r["answer"] for r in rows])
        out[key] = losses
    return out


for _ in range(2):
    t = time.perf_counter()
    log = evaluate(model, tok, source=SRC, max_rows=N, progress=False)
    tb = time.perf_counter() - t
    t = time.perf_counter()
    ref = naive()
    tn = time.perf_counter() - t
    load = os.getloadavg()[0]  # this bench uses one thread: ~1 is a quiet 2-core machine
    print(f"batched evaluate {tb:.2f}s   one-at-a-time {tn:.2f}s   speed-up {tn / tb:.1f}x   (load average {load:.2f})")
for key in log:
    np.testing.assert_allclose(np.array(log[key]["avg_gt_loss"]), np.array(ref[key])[:, 0], rtol=1e-4)
print("losses agree")
