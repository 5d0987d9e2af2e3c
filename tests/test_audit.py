"""npo_lab.audit: every metric on hand-computed examples, the attacks' guarantees, the report and the CLI."""

from __future__ import annotations

import itertools
import json
import math
import zlib

import numpy as np
import pytest
import torch

from npo_lab.audit import (
    AuditConfig,
    AuditData,
    answer_stats,
    audit_models,
    audit_table,
    exact_memorization,
    extraction_strength,
    loss_score,
    memorization_scores,
    mia_scores,
    min_k_plus_plus_score,
    min_k_score,
    plot_audit,
    privleak,
    quantize_model,
    quantize_tensor,
    relearn,
    roc_auc,
    split_halves,
    zlib_score,
)

LN2 = math.log(2.0)

ROWS = [
    {
        "question": f"What does author {a} write about {t}?",
        "answer": f"Author {a} writes about {t} and the sea.",
        "paraphrased_answer": f"The sea and {t} are what author {a} writes about.",
        "perturbed_answer": [f"Author {a} writes about {u} and the sea." for u in ("rain", "fire")],
        "paraphrased_question": f"Which topics does author {a} cover about {t}?",
    }
    for a, t in itertools.product(("Ada", "Bo", "Cyra"), ("war", "love", "trains"))
]


def _tokenizer(texts):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = sorted({w for t in texts for w in t.replace("?", " ? ").replace(".", " . ").split()})
    vocab = {"<unk>": 0, "<pad>": 1, "</s>": 2, **{w: i + 3 for i, w in enumerate(words + ["Question:", "Answer:"])}}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    return PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>", pad_token="<pad>", eos_token="</s>")


def _texts(rows):
    for r in rows:
        yield from (r["question"], r["answer"], r["paraphrased_answer"], r["paraphrased_question"])
        yield from r["perturbed_answer"]


@pytest.fixture(scope="module")
def tiny():
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = _tokenizer(_texts(ROWS))
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=128,
    )
    return LlamaForCausalLM(cfg).eval(), tok


# --------------------------------------------------------------------------------------------------------------
# AUC and privleak
# --------------------------------------------------------------------------------------------------------------
def _pairwise_auc(f, h):
    return sum((y > x) + 0.5 * (y == x) for x in f for y in h) / (len(f) * len(h))


def test_auc_hand_computed_with_ties():
    # pairs (f, h): (1,2) 1, (2,2) ½, (3,2) 0, (1|2|3, 4) 1 each → 4.5 / 6
    assert roc_auc([1, 2, 3], [2, 4]) == pytest.approx(0.75)
    assert roc_auc([0, 1], [2, 3]) == 1.0  # every holdout answer scores higher (less member-like)
    assert roc_auc([2, 3], [0, 1]) == 0.0
    assert roc_auc([5, 5, 5], [5, 5]) == 0.5  # all tied


def test_auc_equals_the_pairwise_definition():
    rng = np.random.default_rng(0)
    for _ in range(20):
        f, h = rng.integers(0, 5, rng.integers(1, 12)), rng.integers(0, 5, rng.integers(1, 12))
        assert roc_auc(f, h) == pytest.approx(_pairwise_auc(f, h))


def test_auc_rejects_bad_input():
    with pytest.raises(ValueError, match="non-empty"):
        roc_auc([], [1.0])
    with pytest.raises(ValueError, match="finite"):
        roc_auc([float("nan")], [1.0])


def test_privleak_formula_and_sign():
    assert privleak(0.7, 0.7) == pytest.approx(0.0)  # the retain model against itself
    assert privleak(1.0, 0.5) == pytest.approx(-100.0, abs=1e-6)  # forget answers clearly members: under-unlearned
    assert privleak(0.25, 0.5) == pytest.approx(50.0)  # (0.75 - 0.5) / 0.5: less familiar than unseen text
    assert privleak(0.6, 0.4) == pytest.approx((0.4 - 0.6) / 0.6 * 100)
    with pytest.raises(ValueError, match="retain_auc"):
        privleak(0.5, 1.5)


# --------------------------------------------------------------------------------------------------------------
# membership scores
# --------------------------------------------------------------------------------------------------------------
def test_loss_zlib_min_k_hand_computed():
    lp = [-1.0, -5.0, -2.0, -4.0, -3.0]
    assert loss_score(lp) == pytest.approx(3.0)
    assert zlib_score(lp, "abc abc") == pytest.approx(3.0 / len(zlib.compress(b"abc abc")))
    assert min_k_score(lp, k=0.4) == pytest.approx(4.5)  # the 2 lowest: -5, -4
    assert min_k_score(lp, k=0.1) == pytest.approx(5.0)  # at least one token
    assert min_k_score(lp, k=1.0) == pytest.approx(3.0)  # all tokens: LOSS
    with pytest.raises(ValueError, match="k must be"):
        min_k_score(lp, k=0)
    with pytest.raises(ValueError, match="at least one"):
        loss_score([])


def test_min_k_plus_plus_on_a_three_token_distribution():
    # next-token distribution (1/2, 1/4, 1/4): log-probs -ln2 (w.p. 1/2) and -2 ln2 (w.p. 1/2)
    # → μ = -1.5 ln2, σ = ln2 / 2; the likely token has z = +1, the others z = -1
    mu, var = -1.5 * LN2, (LN2 / 2) ** 2
    lp = [-LN2, -2 * LN2, -LN2, -2 * LN2]
    assert min_k_plus_plus_score(lp, [mu] * 4, [var] * 4, k=0.5) == pytest.approx(1.0)
    assert min_k_plus_plus_score(lp, [mu] * 4, [var] * 4, k=1.0) == pytest.approx(0.0)
    assert min_k_plus_plus_score([-LN2], [mu], [0.0], k=1.0) == pytest.approx(-0.5 * LN2 / 1e-3)  # σ² floor 1e-6


class _FixedLM(torch.nn.Module):
    """Every position predicts the same distribution: 1/2 on "yes", 1/4 on "no", 1/4 on EOS, ~0 elsewhere."""

    def __init__(self, tok):
        super().__init__()
        self.emb = torch.nn.Embedding(len(tok), 1)
        logits = torch.full((len(tok),), -1e4)
        for word, p in (("yes", 0.5), ("no", 0.25), ("</s>", 0.25)):
            logits[tok.convert_tokens_to_ids(word)] = math.log(p)
        self.register_buffer("logits", logits)

    def get_input_embeddings(self):
        return self.emb

    def forward(self, input_ids, attention_mask=None, use_cache=False):
        from types import SimpleNamespace

        return SimpleNamespace(logits=self.logits.expand(*input_ids.shape, -1).clone())


def test_answer_stats_on_a_tiny_vocabulary():
    tok = _tokenizer(["is it yes or no ?", "yes no"])
    model = _FixedLM(tok)
    stats = answer_stats(model, tok, [{"question": "is it yes or no?", "answer": "yes no yes"}])
    # targets yes, no, yes, EOS → log-probs -ln2, -2ln2, -ln2, -2ln2 and z = +1, -1, +1, -1
    assert stats.token_logps[0].tolist() == pytest.approx([-LN2, -2 * LN2, -LN2, -2 * LN2], abs=1e-5)
    assert stats.mu[0].tolist() == pytest.approx([-1.5 * LN2] * 4, abs=1e-5)
    assert stats.var[0].tolist() == pytest.approx([(LN2 / 2) ** 2] * 4, abs=1e-5)
    scores = mia_scores(stats, k=0.5)
    assert scores["min_k++"][0] == pytest.approx(1.0, abs=1e-4)
    assert scores["loss"][0] == pytest.approx(1.5 * LN2, abs=1e-5)
    # the greedy prediction is always "yes": 2 of 4 tokens right, and the last (EOS) is wrong → ES = 0
    assert memorization_scores(stats) == pytest.approx({"exact_memorization": 0.5, "extraction_strength": 0.0})


def test_answer_stats_agree_with_score_answers(tiny):
    from npo_lab.scoring import score_answers

    model, tok = tiny
    stats = answer_stats(model, tok, ROWS, batch_size=4)
    ref = score_answers(model, tok, ROWS, batch_size=3, token_logps=True)
    for a, b in zip(stats.token_logps, ref.token_logps):
        assert torch.allclose(a, b, atol=1e-5)
    assert all((v > -1e-6).all() for v in stats.var)  # a variance


# --------------------------------------------------------------------------------------------------------------
# memorisation
# --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "pred, es, em",
    [
        ([1, 2, 3, 4], 1.0, 1.0),  # the whole answer from the question alone
        ([9, 2, 3, 4], 0.75, 0.75),  # one token of prefix needed
        ([1, 9, 3, 4], 0.5, 0.75),  # two tokens
        ([1, 2, 3, 9], 0.0, 0.75),  # the last token is wrong: nothing extracted
        ([9, 9, 9, 9], 0.0, 0.0),
    ],
)
def test_extraction_strength_and_exact_memorization(pred, es, em):
    target = [1, 2, 3, 4]
    assert extraction_strength(pred, target) == pytest.approx(es)
    assert exact_memorization(torch.tensor(pred), torch.tensor(target)) == pytest.approx(em)


def test_memorization_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="same length"):
        extraction_strength([1, 2], [1])


# --------------------------------------------------------------------------------------------------------------
# attacks
# --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bits", [8, 4, 2])
def test_quantizer_error_bound_and_levels(bits):
    w = torch.randn(7, 300, generator=torch.Generator().manual_seed(bits))  # groups of 128, 128 and 44
    q, scale = quantize_tensor(w, bits, 128, return_scale=True)
    assert q.shape == w.shape and q.dtype == w.dtype and scale.shape == (7, 3)
    bound = torch.repeat_interleave(scale, torch.tensor([128, 128, 44]), dim=-1) / 2
    assert ((w - q).abs() <= bound + 1e-6).all()
    for g in torch.split(q, 128, dim=-1):
        for row in g:
            assert len(torch.unique(row)) <= 2**bits
    assert (scale > 0).all()


def test_quantizer_keeps_constant_groups_and_rejects_bad_bits():
    w = torch.tensor([[0.5] * 4, [1.0, 2.0, 3.0, 4.0]])
    q = quantize_tensor(w, 4, 4)
    assert torch.equal(q[0], w[0]) and torch.allclose(q[1], w[1])  # 4 distinct values fit 16 levels
    with pytest.raises(ValueError, match="bits"):
        quantize_tensor(w, 1)
    with pytest.raises(ValueError, match="group_size"):
        quantize_tensor(w, 4, 0)


def test_quantize_model_copies_and_quantizes_every_linear(tiny):
    model, _ = tiny
    before = {k: v.clone() for k, v in model.state_dict().items()}
    q = quantize_model(model, 4, 16)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # original untouched
    for name, mod in q.named_modules():
        if isinstance(mod, torch.nn.Linear):
            orig = dict(model.named_modules())[name].weight
            _, scale = quantize_tensor(orig, 4, 16, return_scale=True)
            assert not torch.equal(mod.weight, orig)
            err = (mod.weight - orig).abs().reshape(*orig.shape[:-1], -1, 16)
            assert (err <= scale.unsqueeze(-1) / 2 + 1e-6).all()


def test_split_halves_is_seeded_and_disjoint():
    a, b = split_halves(list(range(9)), seed=3)
    assert len(a) == 4 and sorted(a + b) == list(range(9))
    assert split_halves(list(range(9)), seed=3) == (a, b)
    with pytest.raises(ValueError, match="at least 2"):
        split_halves([1])


def test_relearn_is_deterministic_and_learns(tiny):
    import copy

    model, tok = tiny
    m1, m2 = copy.deepcopy(model), copy.deepcopy(model)
    l1 = relearn(m1, tok, ROWS[:4], steps=6, learning_rate=1e-2, batch_size=2, seed=1)
    l2 = relearn(m2, tok, ROWS[:4], steps=6, learning_rate=1e-2, batch_size=2, seed=1)
    assert l1 == l2 and len(l1) == 6 and not m1.training
    assert all(torch.equal(a, b) for a, b in zip(m1.parameters(), m2.parameters()))
    assert np.mean(l1[-2:]) < np.mean(l1[:2])
    with pytest.raises(ValueError, match="steps"):
        relearn(m1, tok, ROWS, steps=0, learning_rate=1e-3)


# --------------------------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------------------------
def test_audit_models_end_to_end(tiny, tmp_path):
    import copy

    import matplotlib

    matplotlib.use("Agg")
    model, tok = tiny
    retain = copy.deepcopy(model)
    relearn(retain, tok, ROWS[6:], steps=3, learning_rate=1e-2, seed=0)  # a different model
    data = AuditData(forget=ROWS[:6], holdout=[{"question": r["question"], "answer": r["answer"]} for r in ROWS[6:]])
    cfg = AuditConfig.smoke(generate=True, relearn_steps=2, bits=(8, 4), group_size=16)
    res = audit_models({"finetuned": model, "retain": retain}, tok, data, config=cfg, progress=False)
    assert list(res["models"]) == ["retain", "finetuned"] and res["reference"] == "retain"
    ref, ft = res["models"]["retain"], res["models"]["finetuned"]
    assert ref["privleak"] == pytest.approx(0.0) and ref["relearn_recovery"] == pytest.approx(0.0)
    assert ref["forget_quality"] == pytest.approx(1.0)
    for key in ("auc_loss", "auc_zlib", "auc_min_k", "auc_min_k++", "extraction_strength", "quant4_forget_probability"):
        assert 0.0 <= ft[key] <= 1.0
    assert ft["auc"] == ft["auc_min_k++"] and ft["privleak"] == ft["privleak_min_k"]
    assert 0 <= ft["paraphrase_rouge"] <= 1
    json.dumps(res, allow_nan=False)
    table = audit_table(res)
    assert list(table.index) == ["retain", "finetuned"] and "relearn_recovery" in table.columns
    fig = plot_audit(res)
    fig.savefig(tmp_path / "audit.png")


def test_audit_config_validation():
    with pytest.raises(ValueError, match="audits"):
        AuditConfig(audits=("nope",))
    with pytest.raises(ValueError, match="bits"):
        AuditConfig(bits=(1,))
    with pytest.raises(ValueError, match="attack"):
        AuditConfig(attack="gradnorm")
    with pytest.raises(ValueError, match="privleak_attack"):
        AuditConfig(privleak_attack="ref")
    assert AuditConfig(bits=[4]).to_dict()["bits"] == [4]


# --------------------------------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------------------------------
def test_cli_errors_are_one_line(tmp_path, capsys):
    from npo_lab.cli import main

    assert main(["audit", str(tmp_path / "missing"), "--reference", str(tmp_path), "--out", "x.json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("npo-lab audit: error:")
    (tmp_path / "a.json").write_text("{}")
    assert main(["audit", str(tmp_path), "--reference", str(tmp_path), "--out", str(tmp_path / "a.json")]) == 2
    assert "already exists" in capsys.readouterr().err


def test_cli_runs_on_saved_models(tiny, tmp_path, capsys):
    from npo_lab.cli import main

    model, tok = tiny
    for name in ("retain", "unlearned"):
        model.save_pretrained(tmp_path / name)
        tok.save_pretrained(tmp_path / name)
    out = tmp_path / "audit.json"
    argv = ["audit", str(tmp_path / "unlearned"), "--reference", str(tmp_path / "retain"), "--data", "synthetic"]
    argv += ["--max-rows", "4", "--audits", "mia", "forget", "--out", str(out), "--no-progress"]
    assert main(argv) == 0, capsys.readouterr().err
    res = json.loads(out.read_text())
    assert set(res["models"]) == {"retain", "unlearned"} and res["n_rows"]["forget"] == 4
    assert res["models"]["unlearned"]["privleak"] == pytest.approx(0.0)  # the same weights as the reference


# --------------------------------------------------------------------------------------------------------------
# npo-lab demo --audit
# --------------------------------------------------------------------------------------------------------------
# one evaluation per method (no early ones); the smoke models of the notebooks, trained once per run (conftest.py)
DEMO_SIZES = dict(epochs=1.0, early_eval_every=0, num_samples=1, progress=False)
AUDIT_OUTPUTS = ("audit.json", "audit.csv", "figures/audit.png")


@pytest.fixture(scope="module")
def demo_cache(npo_lab_cache):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NPO_LAB_CACHE", str(npo_lab_cache))
        mp.setenv("HF_HUB_OFFLINE", "1")
        yield


def test_demo_cli_audit_flag():
    import argparse

    from npo_lab.cli.demo import add_arguments, demo_config

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    on = demo_config(parser.parse_args(["--smoke", "--audit"]))
    assert on.audit and on.audit_config == AuditConfig.smoke()  # smoke: the audit's smoke sizes
    assert not demo_config(parser.parse_args(["--smoke"])).audit
    assert demo_config(parser.parse_args(["--audit"])).audit_config == AuditConfig()  # full sizes


def test_audit_config_overrides_are_validated():
    from npo_lab.experiments import DemoConfig

    assert AuditConfig.from_dict(AuditConfig.smoke().to_dict()) == AuditConfig.smoke()
    with pytest.raises(ValueError, match=r"unknown AuditConfig field\(s\) \['rows'\]"):
        DemoConfig(audit_config={"rows": 3})
    with pytest.raises(ValueError, match="max_rows"):
        DemoConfig(audit_config={"max_rows": 1})
    with pytest.raises(ValueError, match="JSON object"):
        AuditConfig.from_dict([1])


@pytest.mark.slow
def test_demo_audit_writes_every_model(demo_cache, tmp_path):
    import pandas as pd

    from npo_lab.experiments import DemoConfig, run_demo

    out = tmp_path / "demo"
    s = run_demo(DemoConfig.smoke(out=str(out), methods=("GA", "NPO"), audit=True, **DEMO_SIZES), print_fn=print)
    for name in (*AUDIT_OUTPUTS, "table.csv", "figures/over_epochs.png"):
        assert (out / name).exists(), name
    models = ["retain", "finetuned", "GA", "NPO"]
    entry = json.loads((out / "demo_summary.json").read_text())["audit"]
    assert entry == s["audit"] and entry["status"] == "completed" and entry["file"] == "audit.json"
    assert list(entry["models"]) == models and entry["models"]["retain"]["privleak"] == pytest.approx(0.0)
    assert all(0 <= entry["models"][m]["auc"] <= 1 for m in models)
    res = json.loads((out / "audit.json").read_text())
    assert list(res["models"]) == models and res["reference"] == "retain"
    assert res["config"]["max_rows"] == 8 and res["config"]["relearn_steps"] == 2  # AuditConfig.smoke sizes
    assert list(pd.read_csv(out / "audit.csv")["model"]) == models
    info = json.loads((out / "demo.json").read_text())
    assert info["status"] == "completed" and info["audit"] == "completed" and info["config"]["audit"] is True


@pytest.mark.slow
def test_demo_without_audit_writes_no_audit(demo_cache, tmp_path):
    from npo_lab.experiments import DemoConfig, run_demo

    out = tmp_path / "demo"
    s = run_demo(DemoConfig.smoke(out=str(out), methods=("GA",), **DEMO_SIZES), print_fn=lambda *a: None)
    assert "audit" not in s and "audit" not in json.loads((out / "demo_summary.json").read_text())
    assert not any((out / name).exists() for name in AUDIT_OUTPUTS)
    assert "audit" not in json.loads((out / "demo.json").read_text())
    assert (out / "table.csv").exists()


@pytest.mark.parametrize("error, status", [(RuntimeError("boom"), "failed"), (KeyboardInterrupt(), "interrupted")])
def test_demo_audit_entry_reports_a_failure_instead_of_raising(monkeypatch, tmp_path, error, status):
    from types import SimpleNamespace

    import npo_lab.audit.report as R

    seen = {}

    def broken(out_dir, setting, models, *, config, progress, say):
        seen["config"] = config
        raise error

    monkeypatch.setattr(R, "demo_audit", broken)
    setting = SimpleNamespace(config=SimpleNamespace(max_length=64, template="qa"))
    lines = []
    entry = R.demo_audit_entry(tmp_path, setting, {}, {"max_rows": 4}, False, lines.append)
    assert entry["status"] == status and entry["seconds"] >= 0 and ("error" in entry) == (status == "failed")
    assert seen["config"] == AuditConfig(max_length=64, template="qa", max_rows=4)
    assert "demo's results are kept" in lines[-1]
    json.dumps(entry, allow_nan=False)
