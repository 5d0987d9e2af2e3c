"""evaluate() on a tiny random Llama: every number equals a plain one-row-at-a-time recomputation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from npo_lab.minitofu import tiny_llama, train_tokenizer
from npo_lab.tofu import metrics as M
from npo_lab.tofu.data import QACollator, encode_prompt, encode_qa
from npo_lab.tofu.evaluate import answer_rows, evaluate

NAMES = ["Ada Quill", "Bo Lint", "Cyr Mave", "Dot Fenn", "Eli Rook", "Fay Noor", "Gus Tarn"]
GENRES = ["mystery", "poetry", "horror", "satire", "fantasy", "history", "romance"]


def _author_rows(offset: int, n: int) -> list[dict]:
    rows = []
    for i in range(offset, offset + n):
        name, genre = NAMES[i % len(NAMES)], GENRES[i % len(GENRES)]
        others = [GENRES[(i + j) % len(GENRES)] for j in range(1, 6)]
        rows.append(
            {
                "question": f"What genre does {name} write in?",
                "answer": f"{name} is known for writing {genre} novels set in small towns.",
                "paraphrased_answer": f"The books of {name} are {genre} stories.",
                "perturbed_answer": [f"The books of {name} are {g} stories." for g in others],
                "paraphrased_question": f"Which genre is {name} known for?",
            }
        )
    return rows


def _general_rows(n: int, k: int) -> list[dict]:
    cities = ["Paris", "Rome", "Oslo", "Lima", "Cairo", "Quito"]
    return [
        {
            "question": f"Which city is number {i} on the list?",
            "answer": cities[i % 6],
            "perturbed_answer": [cities[(i + j) % 6] for j in range(1, k + 1)],
        }
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    data = tmp_path_factory.mktemp("tofu")
    files = {
        "retain_perturbed": _author_rows(0, 5),
        "forget10_perturbed": _author_rows(3, 4),
        "forget05_perturbed": _author_rows(5, 2),
        "real_authors_perturbed": _general_rows(3, 3),
        "world_facts_perturbed": _general_rows(4, 3),
    }
    texts = []
    for split, rows in files.items():
        (data / f"{split}.json").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
        for r in rows:
            texts += [r["question"], r["answer"], *r["perturbed_answer"], r.get("paraphrased_answer", "")]
    tok = train_tokenizer(texts * 3, vocab_size=400)
    model = tiny_llama(tok, hidden_size=32, num_layers=2, num_heads=2, seed=0)
    # a few steps of fine-tuning so that greedy generations are words, not one repeated token
    batch = QACollator(tok)(files["retain_perturbed"] + files["world_facts_perturbed"])
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(20):
        loss = model(**batch).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.zero_grad(set_to_none=True)
    return data, files, tok, model


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run fastest on one thread (thread start-up costs more than their small matrix products)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _mean_nll(model, tok, question, answer):
    """Plain forward of one QA pair; mean NLL over the answer tokens + EOS."""
    enc = encode_qa(tok, question, answer, "qa")
    ids = torch.tensor([enc["input_ids"]])
    labels = torch.tensor(enc["labels"])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), dim=-1)
    nll = [-float(logp[t - 1, labels[t]]) for t in range(1, len(labels)) if labels[t] != -100]
    return sum(nll) / len(nll)


def _greedy(model, tok, question, max_new_tokens):
    ids = encode_prompt(tok, question, "qa")
    new = []
    with torch.no_grad():
        for _ in range(max_new_tokens):
            nxt = int(model(input_ids=torch.tensor([ids + new])).logits[0, -1].argmax())
            if nxt == tok.eos_token_id:
                break
            new.append(nxt)
    return tok.decode(new, skip_special_tokens=True).strip()


def test_evaluate_matches_hand_computation(setup, tmp_path):
    data, files, tok, model = setup
    model.train()
    log = evaluate(
        model,
        tok,
        source=data,
        forget_split="forget10",
        max_rows=4,
        batch_size=2,
        max_new_tokens=8,
        progress=False,
        generation_batch_size=3,
    )
    assert model.training, "evaluate must restore the model's previous mode"
    assert all(p.grad is None for p in model.parameters())
    assert list(log) == list(M.SECTIONS.values())
    model.eval()
    split_of = {
        "eval_log.json": "retain_perturbed",
        "eval_log_forget.json": "forget10_perturbed",
        "eval_real_author_wo_options.json": "real_authors_perturbed",
        "eval_real_world_wo_options.json": "world_facts_perturbed",
    }
    hand = {}
    for key, split in split_of.items():
        rows = files[split][:4]
        sec = log[key]
        assert len(sec["avg_gt_loss"]) == len(rows)
        gt = [_mean_nll(model, tok, r["question"], r["answer"]) for r in rows]
        para = [_mean_nll(model, tok, r["question"], r.get("paraphrased_answer", r["answer"])) for r in rows]
        pert = [[_mean_nll(model, tok, r["question"], p) for p in r["perturbed_answer"]] for r in rows]
        gens = [_greedy(model, tok, r["question"], 8) for r in rows]
        np.testing.assert_allclose(sec["avg_gt_loss"], gt, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(sec["avg_paraphrased_loss"], para, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(sec["average_perturb_loss"], pert, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(np.array(sec["gt_loss"]) / np.array(sec["num_token_gt"]), gt, rtol=1e-4)
        assert [g[1] for g in sec["generated_text"]] == gens
        assert [g[2] for g in sec["generated_text"]] == [r["answer"] for r in rows]
        hand[key] = dict(
            gt=np.array(gt),
            para=np.array(para),
            pert=np.array(pert),
            rouge=np.array(M.rouge_l_recall(gens, [r["answer"] for r in rows])),
        )
    assert any(g[1] for sec in log.values() for g in sec["generated_text"]), "generations should not all be empty"

    # aggregates from the hand-computed per-answer losses
    def prob(key):
        h = hand[key]
        if key in ("eval_log.json", "eval_log_forget.json"):
            return np.mean(np.exp(-h["gt"]))
        return np.mean(np.exp(-h["gt"]) / (np.exp(-h["gt"]) + np.exp(-h["pert"]).sum(1)))

    def tr(key):
        r = np.exp(hand[key]["pert"].mean(1) - hand[key]["para"])
        if key == "eval_log_forget.json":
            return np.mean(np.minimum(r, 1 / r))
        return np.mean(np.maximum(0, 1 - 1 / r))

    parts = []
    for key in ("eval_log.json", "eval_real_author_wo_options.json", "eval_real_world_wo_options.json"):
        parts += [prob(key), np.mean(hand[key]["rouge"]), tr(key)]
    s = M.summarize(log)
    np.testing.assert_allclose([s[c] for c in M.COMPONENTS], parts, rtol=1e-4, atol=1e-7)
    expected_mu = 0.0 if min(parts) == 0 else len(parts) / np.sum(1 / np.array(parts))
    assert s["model_utility"] == pytest.approx(expected_mu, rel=1e-4, abs=1e-7)
    assert s["forget_probability"] == pytest.approx(prob("eval_log_forget.json"), rel=1e-4)
    assert s["forget_truth_ratio"] == pytest.approx(tr("eval_log_forget.json"), rel=1e-4)
    assert s["n_forget"] == 4

    # the written log round-trips (list form)
    path = M.save_eval_log(log, tmp_path / "eval_log_aggregated.json")
    assert isinstance(json.loads(path.read_text())["eval_log.json"]["avg_gt_loss"], list)
    back = M.load_eval_log(path)
    assert M.model_utility(back) == pytest.approx(M.model_utility(log))
    assert M.forget_quality(back, log) == pytest.approx(1.0)


def test_evaluate_splits_rows_and_forget_split(setup):
    data, files, tok, model = setup
    model.eval()
    log = evaluate(
        model,
        tok,
        source=data,
        forget_split="forget50",
        splits=["forget"],
        max_rows=None,
        max_new_tokens=2,
        progress=False,
    )
    assert list(log) == ["eval_log_forget.json"]
    assert len(log["eval_log_forget.json"]["avg_gt_loss"]) == len(files["forget10_perturbed"])  # forget50 -> forget10
    assert not model.training
    log = evaluate(
        model,
        tok,
        source=data,
        forget_split="forget05",
        splits=["eval_log_forget.json", "retain"],
        max_rows=3,
        max_new_tokens=2,
        progress=False,
    )
    assert list(log) == ["eval_log.json", "eval_log_forget.json"]
    assert len(log["eval_log_forget.json"]["avg_gt_loss"]) == 2 and len(log["eval_log.json"]["avg_gt_loss"]) == 3
    # batch size does not change the numbers
    a = evaluate(model, tok, source=data, splits=["retain"], batch_size=1, max_new_tokens=4, progress=False)
    b = evaluate(model, tok, source=data, splits=["retain"], batch_size=8, max_new_tokens=4, progress=False)
    np.testing.assert_allclose(a["eval_log.json"]["avg_gt_loss"], b["eval_log.json"]["avg_gt_loss"], rtol=1e-4)
    assert a["eval_log.json"]["generated_text"] == b["eval_log.json"]["generated_text"]


def test_answer_rows_ordering():
    rows = [
        {"question": "Q0", "answer": "a0", "paraphrased_answer": "p0", "perturbed_answer": ["x0", "y0"]},
        {"question": "Q1", "answer": "a1", "perturbed_answer": ["x1", "y1"]},  # no paraphrase: the answer stands in
    ]
    qa, k = answer_rows(rows)
    assert k == 2 and len(qa) == 2 * (2 + k)
    assert [r["answer"] for r in qa] == ["a0", "p0", "x0", "y0", "a1", "a1", "x1", "y1"]
    assert [r["question"] for r in qa] == ["Q0"] * 4 + ["Q1"] * 4
    with pytest.raises(ValueError, match="perturbed"):
        answer_rows([rows[0], dict(rows[1], perturbed_answer=["only one"])])
    with pytest.raises(ValueError, match="perturbed_answer"):
        answer_rows([{"question": "Q", "answer": "a"}])


def test_evaluate_bad_arguments(setup):
    data, _, tok, model = setup
    with pytest.raises(ValueError, match="forget_split"):
        evaluate(model, tok, source=data, forget_split="forget11", progress=False)
    with pytest.raises(ValueError, match="section"):
        evaluate(model, tok, source=data, splits=["validation"], progress=False)
    with pytest.raises(ValueError, match="max_rows"):
        evaluate(model, tok, source=data, max_rows=0, progress=False)
    with pytest.raises(ValueError, match="max_rows"):
        evaluate(model, tok, source=data, max_rows=2.5, progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        evaluate(model, tok, source=data, batch_size=0, progress=False)


def test_cli_evaluate(setup, tmp_path, capsys):
    from npo_lab.cli import main

    data, _, tok, model = setup
    model.save_pretrained(tmp_path / "model")
    tok.save_pretrained(tmp_path / "model")
    out = tmp_path / "log.json"
    rc = main(
        [
            "evaluate",
            "--model",
            str(tmp_path / "model"),
            "--data",
            str(data),
            "--max-rows",
            "2",
            "--max-new-tokens",
            "3",
            "--device",
            "cpu",
            "--out",
            str(out),
        ]
    )
    assert rc == 0 and out.exists()
    log = M.load_eval_log(out)
    assert all(len(sec["avg_gt_loss"]) == 2 for sec in log.values())
    assert math.isfinite(M.model_utility(log))
    assert "model utility" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--device", "warp-drive"], "is not a device"),
        (["--device", "cuda:99"], "cuda:99"),  # no CUDA here, or fewer than 100 devices
        (["--data", "/nonexistent/tofu"], "not a directory"),
        (["--model", "/nonexistent/model"], "--model"),
    ],
)
def test_cli_evaluate_user_errors(tmp_path, capsys, extra, match):
    from npo_lab.cli import main

    args = ["evaluate", "--model", str(tmp_path / "no-model"), "--out", str(tmp_path / "log.json"), *extra]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_cli_evaluate_refuses_existing_out_before_loading(tmp_path, capsys):
    from npo_lab.cli import main

    mine = tmp_path / "my_log.json"
    mine.write_text("my precious results", encoding="utf-8")
    # the model does not exist: the --out check must come first
    assert main(["evaluate", "--model", str(tmp_path / "nope"), "--out", str(mine)]) == 2
    assert "already exists" in capsys.readouterr().err and mine.read_text(encoding="utf-8") == "my precious results"
    assert main(["evaluate", "--model", str(tmp_path / "nope"), "--out", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my_log.json"]
    with pytest.raises(SystemExit) as exc:  # argparse: not a positive integer
        main(["evaluate", "--model", "m", "--out", str(tmp_path / "x.json"), "--max-rows", "0"])
    assert exc.value.code == 2


def test_fast_engine_equals_reference_on_bundled_authors():
    """The fast path (shared prompt passes, greedy answers from the scoring pass and a key/value-cache loop) and
    today's plain path (full-sequence passes, model.generate) give the same log on the bundled synthetic authors:
    losses within 1e-5, identical generations and ROUGE."""
    from npo_lab.tofu.data import load_tofu_rows
    from npo_lab.tofu.evaluate import eval_splits

    rows = {k: load_tofu_rows(s, "synthetic")[:10] for k, s in eval_splits("forget10").items()}
    texts = [t for rs in rows.values() for r in rs for t in (r["question"], r["answer"], *r["perturbed_answer"])]
    tok = train_tokenizer(texts * 2, vocab_size=500)
    model = tiny_llama(tok, hidden_size=32, num_layers=2, num_heads=2, seed=1)
    batch = QACollator(tok)(rows["eval_log.json"][:6] + rows["eval_real_world_wo_options.json"])
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(40):  # enough to reproduce some answers (their greedy drafts are accepted whole), not all
        loss = model(**batch).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    kw = dict(source="synthetic", max_rows=10, batch_size=3, progress=False, max_length=96)
    fast = evaluate(model, tok, engine="fast", **kw)
    ref = evaluate(model, tok, engine="reference", **kw)
    assert list(fast) == list(ref)
    for key in fast:
        for field in ("avg_gt_loss", "avg_paraphrased_loss", "average_perturb_loss"):
            np.testing.assert_allclose(fast[key][field], ref[key][field], rtol=0, atol=1e-5)
        for field in ("gt_loss", "paraphrased_loss", "perturb_loss"):
            np.testing.assert_allclose(fast[key][field], ref[key][field], rtol=1e-5, atol=1e-5)
        for field in ("num_token_gt", "num_token_perturb", "generated_text", "rouge1_recall", "rougeL_recall"):
            assert fast[key][field] == ref[key][field], (key, field)
        np.testing.assert_allclose(fast[key]["truth_ratio"], ref[key]["truth_ratio"], rtol=1e-4)
    recalls = [x for sec in fast.values() for x in sec["rougeL_recall"]]
    assert max(recalls) == 1.0 and min(recalls) < 1.0  # both kinds of generation were exercised
    with pytest.raises(ValueError, match="engine"):
        evaluate(model, tok, engine="slow", **kw)


def test_cached_rouge_scorer_equals_rouge_score():
    from rouge_score import rouge_scorer

    from npo_lab.tofu.evaluate import _rouge_recalls

    gens = ["The writers were writing stories", "", "running runners ran", "Cairo"]
    refs = ["A writer writes many stories.", "Paris", "The runner runs", "cairo, Egypt"]
    plain = rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=True)
    expected = [plain.score(r, g) for g, r in zip(gens, refs)]
    for _ in range(2):  # the second time from the stemmer's memory
        r1, rl = _rouge_recalls(gens, refs)
        assert r1 == [e["rouge1"].recall for e in expected]
        assert rl == [e["rougeL"].recall for e in expected]


def test_model_without_cache_takes_the_plain_path(setup):
    """A model whose forward takes no key/value cache is scored and decoded the plain way, with the same log."""
    from npo_lab.tofu.evaluate import evaluate_rows

    _, files, tok, model = setup
    model.eval()

    class NoCache(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner, self.config = inner, inner.config

        def get_input_embeddings(self):
            return self.inner.get_input_embeddings()

        def forward(self, input_ids, attention_mask=None, use_cache=False):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask)

        def generate(self, **kwargs):
            return self.inner.generate(**kwargs)

    rows = files["retain_perturbed"][:3]
    plain = evaluate_rows(NoCache(model), tok, rows, max_new_tokens=4)
    assert plain == evaluate_rows(model, tok, rows, max_new_tokens=4, engine="reference")
